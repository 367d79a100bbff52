// Package syncers turns a registered upstream into a
// cache.SyncFuncOf[*record.Record].
//
// The only syncer so far is the webhook: every sync POSTs the batch's items
// as JSON to the upstream's URL, optionally signed per Standard Webhooks v1,
// and applies the upstream's answer. PROTOCOL.md in this directory describes
// the wire protocol for people writing upstreams.
//
// The webhook also applies the per-item schedule (record.Policy) that both
// storage modes share: an upstream's nextSyncAfter, its per-item "error"
// answers, and the failed attempts a failed batch charges to its items are
// all turned into responses here, so the embedded engine and the PostgreSQL
// mode only apply them.
//
// Each cache gets its own *Webhook (and, by default, its own HTTP transport),
// so a slow or dead upstream only ever delays the cache that uses it. Every
// failure is returned as an *Error whose SyncErrorReason is one of a small
// fixed set, which the cache engine uses as a metric label.
//
// Webhook URLs, secrets and header values are user input and user secrets:
// URLs are checked by an egress.Policy (at validation and, authoritatively,
// at dial time), and secrets and header values never appear in errors, logs
// or String output.
package syncers
