// Package evitest has test doubles of the Event Interface's contracts: a
// fake Transport whose destinations deliver, fail, refuse or hold events as
// a test says, and a Recorder of outcomes to wait on. The packages'
// tests share them instead of each writing its own.
//
// The fake keeps the contract the real transports keep: an accepted
// event's Done is called exactly once, later and from another goroutine;
// a refused one's never; Close waits until every Done has been called.
package evitest
