package handlers

import "sync"

// bodies recycles the buffers that response bodies are built in, so that
// the hottest responses (items) allocate nothing for their JSON. A buffer
// goes back once net/http has copied the body out of it.
//
// Buffers that grew past maxPooledBody are dropped rather than kept: one
// large list page must not pin a large buffer for ever.
type bodies struct{ pool sync.Pool }

// maxPooledBody is the largest buffer kept for reuse; an item page of the
// default 100 items of small data fits.
const maxPooledBody = 64 << 10

// body is a buffer from the pool, and the pool to return it to.
type body struct {
	b    []byte
	from *bodies
}

// get returns an empty buffer with room for at least n bytes.
func (p *bodies) get(n int) *body {
	if v, ok := p.pool.Get().(*body); ok && cap(v.b) >= n {
		return v
	}
	return &body{b: make([]byte, 0, max(n, 512)), from: p}
}

// put gives the buffer back, as grown by appends (grown is b.b or what
// appending to it returned). The caller must not use either afterwards.
func (b *body) put(grown []byte) {
	if cap(grown) > maxPooledBody {
		return
	}
	b.b = grown[:0]
	b.from.pool.Put(b)
}
