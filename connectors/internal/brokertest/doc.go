// Package brokertest is the broker sources' searching test of replays:
// messages published in random bursts while a job loads them into a
// SQLite append table, the job crashing at random points (before a
// transaction commits, after it committed and before the checkpoint, or
// after the checkpoint and before the source's ack, the dead run's
// connection left to the broker to notice)
// and run again, checked against the messages published: each one's row
// exactly once.
//
// It is for tests only; it imports etl, the state store and the SQLite
// table target.
package brokertest
