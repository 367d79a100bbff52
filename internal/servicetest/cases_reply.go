package servicetest

// syncReplyCases cover what a sync reply may carry and how each mode stores it (values PostgreSQL cannot store, late replies for deleted items).
var syncReplyCases = []testCase{}
