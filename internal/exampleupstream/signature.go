package exampleupstream

import (
	"net/http"

	"github.com/autorefresh/autorefresh/webhook"
)

// SignatureTolerance is how far a request's timestamp may be from the
// upstream's clock, either way. Older requests are refused so that a
// captured request cannot be replayed later; newer ones so that a request
// signed with a skewed clock is noticed.
const SignatureTolerance = webhook.DefaultTolerance

// verify checks the Standard Webhooks v1 signature of a request (see package
// webhook) and refuses it with 401 and the reason when it does not hold.
func (u *Upstream) verify(h http.Header, body []byte) error {
	if err := webhook.Verify(u.secret, h, body, u.clock.Now(), SignatureTolerance); err != nil {
		return unauthorized(err.Error())
	}
	return nil
}
