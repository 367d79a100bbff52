package servicetest

// refreshCases cover the refresh pipeline: sync-on-create coalescing, event order, visibility only once durable.
var refreshCases = []testCase{}
