package spool

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/evstream/evstream/evi"
)

var bucketSubscriptions = []byte("subscriptions")

// Subscriptions keeps a registry's durable subscriptions in the store's
// file, beside the spool (one file, one fsync per commit): it is the
// evi.SubscriptionStore of a daemon with a data directory, so that MI
// subscriptions survive restarts with their remaining expire. Writes go
// through the store's committer.
type Subscriptions struct{ s *Bolt }

var _ evi.SubscriptionStore = Subscriptions{}

// Subscriptions returns the store's subscription store.
func (s *Bolt) Subscriptions() Subscriptions { return Subscriptions{s} }

// storedSub is a subscription's stored form (JSON: small, and readable
// with bbolt's tools).
type storedSub struct {
	Event   string    `json:"event"`
	Socket  string    `json:"socket"`
	Key     string    `json:"key"`
	Expire  int64     `json:"expire_ns,omitempty"`
	Expires time.Time `json:"expires,omitzero"`
	// Delivery is the policy's name; absent: at-most-once.
	Delivery string `json:"delivery,omitempty"`
}

func subKey(event, key string) []byte { return []byte(event + "\x00" + key) }

// Load returns every subscription kept. A damaged one is an error naming
// the file and the subscription.
func (u Subscriptions) Load() ([]evi.StoredSubscription, error) {
	var out []evi.StoredSubscription
	err := u.s.view(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketSubscriptions)
		if b == nil {
			return nil
		}
		return b.ForEach(func(k, v []byte) error {
			var st storedSub
			if err := json.Unmarshal(v, &st); err != nil || st.Event == "" || st.Key == "" {
				return fmt.Errorf("spool: %s: subscription %q is damaged: %v", u.s.path, k, err)
			}
			d := evi.AtMostOnce
			if st.Delivery != "" {
				var err error
				if d, err = evi.ParseDelivery(st.Delivery); err != nil {
					return fmt.Errorf("spool: %s: subscription %q is damaged: %w", u.s.path, k, err)
				}
			}
			out = append(out, evi.StoredSubscription{Event: st.Event, Socket: st.Socket, Key: st.Key,
				Expire: time.Duration(st.Expire), Expires: st.Expires, Delivery: d})
			return nil
		})
	})
	return out, err
}

// Put keeps sub, replacing the one of the same event and key; durable
// when it returns.
func (u Subscriptions) Put(sub evi.StoredSubscription) error {
	st := storedSub{Event: sub.Event, Socket: sub.Socket, Key: sub.Key, Expire: int64(sub.Expire), Expires: sub.Expires}
	if sub.Delivery != evi.AtMostOnce {
		st.Delivery = sub.Delivery.String()
	}
	v, err := json.Marshal(st)
	if err != nil {
		return err
	}
	k := subKey(sub.Event, sub.Key)
	if len(k) > bolt.MaxKeySize {
		return fmt.Errorf("spool: subscription of %s to %q: key of %d bytes, at most %d", sub.Event, sub.Socket, len(k), bolt.MaxKeySize)
	}
	return u.s.write(func(tx *bolt.Tx) (delta, error) {
		b, err := tx.CreateBucketIfNotExists(bucketSubscriptions)
		if err != nil {
			return delta{}, err
		}
		return delta{}, b.Put(k, v)
	})
}

// Delete forgets the subscription of event with key.
func (u Subscriptions) Delete(event, key string) error {
	return u.s.write(func(tx *bolt.Tx) (delta, error) {
		b := tx.Bucket(bucketSubscriptions)
		if b == nil {
			return delta{}, nil
		}
		return delta{}, b.Delete(subKey(event, key))
	})
}
