// Package bench compares the AutoRefresh engine in internal/cache with Flyte's
// flytestdlib cache (pinned at v1.16.8) on the same workloads. It is a module
// of its own so that the service never depends on Flyte; its benchmarks live
// in bench_test.go and are described in docs/benchmarks.md.
package bench
