package robustness

import (
	"testing"
	"time"

	"github.com/anishathalye/porcupine"
)

// op is a hand-made operation for the model's own tests.
func op(client int, call, ret int64, in Input, out Output) porcupine.Operation {
	return porcupine.Operation{ClientId: client, Input: in, Call: call, Return: ret, Output: out}
}

func seen(g, v int, terminal, pending bool) Seen {
	return Seen{Gen: g, N: v, Version: v, Terminal: terminal, PendingDelete: pending}
}

func TestModelAcceptsDocumentedHistories(t *testing.T) {
	putCache := Input{Kind: CachePut, Cache: "c"}
	create := func(g int) Input { return Input{Kind: Create, Cache: "c", Item: "x", Gen: g} }
	get := Input{Kind: Get, Cache: "c", Item: "x"}
	del := Input{Kind: Delete, Cache: "c", Item: "x"}
	cases := map[string][]porcupine.Operation{
		"syncs move the version forward between reads, in steps the upstream explains": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 3, create(7), Output{Status: 201, Item: seen(7, 1, false, false)}),
			op(1, 4, 5, get, Output{Status: 200, Item: seen(7, 3, false, false)}),
			op(0, 6, 7, create(8), Output{Status: 200, Item: seen(7, 4, true, false)}),
		},
		"failed attempts move the version and not the data; an update then moves both": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 3, create(7), Output{Status: 201, Item: seen(7, 1, false, false)}),
			op(1, 4, 5, get, Output{Status: 200, Item: Seen{Gen: 7, N: 1, Version: 3}}),
			op(1, 6, 7, get, Output{Status: 200, Item: Seen{Gen: 7, N: 2, Version: 5}}),
		},
		"a delete is seen pending until a cycle removes it; then the id is free": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 3, create(1), Output{Status: 201, Item: seen(1, 1, false, false)}),
			op(0, 4, 5, del, Output{Status: 202, Item: seen(1, 2, false, true)}),
			op(1, 6, 7, get, Output{Status: 200, Item: seen(1, 2, false, true)}),
			op(1, 8, 9, get, Output{Status: 404}),
			op(0, 10, 11, create(2), Output{Status: 201, Item: seen(2, 1, false, false)}),
		},
		"a create without an answer may take effect after later calls": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 100, create(1), Output{Unknown: true}),
			op(1, 4, 5, get, Output{Status: 404}),
			op(1, 6, 7, get, Output{Status: 200, Item: seen(1, 1, false, false)}),
		},
		"deleting the cache drops its items": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 3, create(1), Output{Status: 201, Item: seen(1, 1, false, false)}),
			op(0, 4, 5, Input{Kind: CacheDelete, Cache: "c"}, Output{Status: 204}),
			op(1, 6, 7, create(2), Output{Status: 404}),
			op(0, 8, 9, putCache, Output{Status: 201}),
			op(1, 10, 11, get, Output{Status: 404}),
		},
	}
	for name, h := range cases {
		if res := porcupine.CheckOperationsTimeout(Model(), h, 10*time.Second); res != porcupine.Ok {
			t.Errorf("%s: %s, want Ok", name, res)
		}
	}
}

func TestModelRejectsBrokenPromises(t *testing.T) {
	putCache := Input{Kind: CachePut, Cache: "c"}
	create := func(g int) Input { return Input{Kind: Create, Cache: "c", Item: "x", Gen: g} }
	get := Input{Kind: Get, Cache: "c", Item: "x"}
	del := Input{Kind: Delete, Cache: "c", Item: "x"}
	cases := map[string][]porcupine.Operation{
		"an acknowledged create lost": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 3, create(1), Output{Status: 201, Item: seen(1, 1, false, false)}),
			op(1, 4, 5, get, Output{Status: 404}),
		},
		"the version goes back": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 3, create(1), Output{Status: 201, Item: seen(1, 1, false, false)}),
			op(1, 4, 5, get, Output{Status: 200, Item: seen(1, 3, false, false)}),
			op(1, 6, 7, get, Output{Status: 200, Item: seen(1, 2, false, false)}),
		},
		"a sync applied after the delete mark": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 3, create(1), Output{Status: 201, Item: seen(1, 1, false, false)}),
			op(0, 4, 5, del, Output{Status: 202, Item: seen(1, 1, false, true)}),
			op(1, 6, 7, get, Output{Status: 200, Item: seen(1, 2, false, true)}),
		},
		"a stale write-back of an older item under the same id": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 3, create(2), Output{Status: 201, Item: seen(2, 1, false, false)}),
			op(1, 4, 5, get, Output{Status: 200, Item: Seen{Gen: 1, N: 2, Version: 2}}),
		},
		"a version that goes backwards": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 3, create(7), Output{Status: 201, Item: seen(7, 1, false, false)}),
			op(1, 4, 5, get, Output{Status: 200, Item: Seen{Gen: 7, N: 1, Version: 3}}),
			op(1, 6, 7, get, Output{Status: 200, Item: Seen{Gen: 7, N: 1, Version: 2}}),
		},
		"an update that did not add a version": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 3, create(7), Output{Status: 201, Item: seen(7, 1, false, false)}),
			op(1, 4, 5, get, Output{Status: 200, Item: Seen{Gen: 7, N: 2, Version: 1}}),
		},
		"an item seen that a later call shows was never created": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 100, create(1), Output{Unknown: true}),
			op(1, 4, 5, Input{Kind: ListSeen, Cache: "c", Item: "x"}, Output{Status: 200, Item: seen(1, 1, false, false)}),
			op(1, 6, 7, get, Output{Status: 404}),
		},
		"an item outlives its cache": {
			op(0, 0, 1, putCache, Output{Status: 201}),
			op(0, 2, 3, create(1), Output{Status: 201, Item: seen(1, 1, false, false)}),
			op(0, 4, 5, Input{Kind: CacheDelete, Cache: "c"}, Output{Status: 204}),
			op(0, 6, 7, putCache, Output{Status: 201}),
			op(1, 8, 9, get, Output{Status: 200, Item: seen(1, 1, false, false)}),
		},
	}
	for name, h := range cases {
		if res := porcupine.CheckOperationsTimeout(Model(), h, 10*time.Second); res != porcupine.Illegal {
			t.Errorf("%s: %s, want Illegal", name, res)
		}
	}
}
