package value_test

import (
	"fmt"

	"github.com/evstream/evstream/value"
)

func ExampleNamed() {
	p := value.Named(
		value.P("port", value.Int(5060)),
		value.P("ip", value.String("127.0.0.1")),
	)
	fmt.Println(p.IsNamed(), p.Len())
	for _, prm := range p.All() {
		fmt.Printf("%s = %v (%v)\n", prm.Name, prm.Value, prm.Value.Kind())
	}
	fmt.Println(value.Named(value.P("", value.Null())).Validate())
	// Output:
	// true 2
	// port = 5060 (int)
	// ip = "127.0.0.1" (string)
	// value: param 0 has an empty name
}

func ExampleUnnamed() {
	p := value.Unnamed(value.String("five"), value.Int(3), value.Null())
	fmt.Println(p.IsNamed(), p.Len())
	for i := range p.Len() {
		fmt.Printf("%d: %v (%v)\n", i, p.At(i).Value, p.At(i).Value.Kind())
	}
	// Output:
	// false 3
	// 0: "five" (string)
	// 1: 3 (int)
	// 2: null (null)
}
