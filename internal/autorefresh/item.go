package autorefresh

import (
	"encoding/base64"
	"regexp"
	"time"

	"github.com/autorefresh/autorefresh/internal/errs"
	"github.com/autorefresh/autorefresh/internal/record"
)

// MaxListLimit bounds one page of ListItems.
const MaxListLimit = 1000

// idRE is the rule for item ids: 1 to 256 URL-safe bytes (RFC 3986
// unreserved characters), so an id never needs escaping in a path.
var idRE = regexp.MustCompile(`^[A-Za-z0-9._~-]{1,256}$`)

// ValidID reports whether id is a valid item id.
func ValidID(id string) bool { return idRE.MatchString(id) && id != "." && id != ".." }

// CheckID is ValidID as the error every mode's CreateItem answers.
func CheckID(id string) error {
	if !ValidID(id) {
		return errs.Errorf(errs.Invalid, "id: must be 1 to 256 of A-Z a-z 0-9 . _ ~ -")
	}
	return nil
}

// Item is an item as clients see it.
type Item struct {
	*record.Record
	// SyncedAt is nil until a sync first answered for the item.
	SyncedAt      *time.Time
	PendingDelete bool
}

// A page of ListItems is the items in id order (bytewise) after the id that
// its cursor names. The cursor is that id, base64url without padding: opaque
// to clients, the same in every mode, so a cursor stays good across a
// restart and between replicas.

// ParsePage checks a ListItems request's limit and cursor and returns the id
// the page starts after ("" for the first page).
func ParsePage(cursor string, limit int) (after string, err error) {
	if limit < 1 || limit > MaxListLimit {
		return "", errs.Errorf(errs.Invalid, "limit: must be between 1 and %d", MaxListLimit)
	}
	if cursor == "" {
		return "", nil
	}
	b, err := base64.RawURLEncoding.DecodeString(cursor)
	if err != nil || !ValidID(string(b)) {
		return "", errs.Errorf(errs.Invalid, "cursor: not a cursor returned by this API")
	}
	return string(b), nil
}

// Cursor is the cursor of the page that follows the item lastID.
func Cursor(lastID string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(lastID))
}
