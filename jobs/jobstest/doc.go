// Package jobstest holds test helpers for the scheduler: a fake clock that
// moves only when a test says so. It imports jobs and is imported by tests
// only.
package jobstest
