// Package robustness checks the service's public API against a sequential
// model of what README.md promises, the way etcd's robustness tests do:
// randomized concurrent clients record a history of real HTTP calls (with
// call and return times), the server is restarted with SIGTERM and SIGKILL
// between phases, and porcupine decides whether some order of the calls,
// each taking effect between its call and its return, explains every answer.
//
// The non-test code is the model and the history it is checked on, so that
// it can be tested on hand-made histories; the tests drive the real binary
// (cmd/server) in both storage modes. docs/robustness.md describes what is
// checked and how to run the long check (make check-linearizable).
package robustness
