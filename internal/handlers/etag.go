package handlers

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/autorefresh/autorefresh/internal/errs"
)

// An item's ETag is its version, quoted: every change of an item bumps its
// version by one (see record.Record), so a version names one state of the
// item's data, flag and bookkeeping. syncedAt and nextSyncAt move without a
// new version (a sync that changed nothing is not a change), which the
// spec says; the tag is strong all the same, since what a client compares
// and patches against is the version.

// etag is the ETag of an item at version v.
func etag(v int64) string { return `"` + strconv.FormatInt(v, 10) + `"` }

// preconditions is an If-Match or If-None-Match header as RFC 9110 §13.1
// reads it: "*", or a list of entity tags.
type preconditions struct {
	// present: the header was sent.
	present bool
	// any: the value is "*".
	any bool
	// strong and weak are the versions named by the list's strong tags
	// ("7") and weak ones (W/"7"). Tags that name no version of ours
	// ("abc", "0") are dropped: they can never match.
	strong, weak []int64
}

// parsePreconditions reads every field line of header h. A list that does
// not parse is an error naming the header.
func parsePreconditions(r *http.Request, h string) (preconditions, error) {
	lines := r.Header.Values(h)
	if len(lines) == 0 {
		return preconditions{}, nil
	}
	p := preconditions{present: true}
	v := strings.TrimSpace(strings.Join(lines, ","))
	if v == "*" {
		p.any = true
		return p, nil
	}
	bad := errs.Errorf(errs.Invalid, "header.%s: must be * or a list of entity tags such as \"3\"", h)
	for v != "" {
		v = strings.TrimLeft(v, " \t,")
		if v == "" {
			break
		}
		weak := strings.HasPrefix(v, "W/")
		if weak {
			v = v[2:]
		}
		if !strings.HasPrefix(v, `"`) {
			return preconditions{}, bad
		}
		end := strings.IndexByte(v[1:], '"')
		if end < 0 {
			return preconditions{}, bad
		}
		tag := v[1 : 1+end]
		v = strings.TrimLeft(v[2+end:], " \t")
		if v != "" && v[0] != ',' {
			return preconditions{}, bad
		}
		n, err := strconv.ParseInt(tag, 10, 64)
		if err != nil || n < 1 || strconv.FormatInt(n, 10) != tag {
			continue // not a tag of ours: it matches nothing
		}
		if weak {
			p.weak = append(p.weak, n)
		} else {
			p.strong = append(p.strong, n)
		}
	}
	return p, nil
}

// matchesStrong is If-Match's comparison (RFC 9110 §13.1.1, strong): a
// weak tag never matches, and our tags are strong.
func (p preconditions) matchesStrong(version int64) bool {
	for _, v := range p.strong {
		if v == version {
			return true
		}
	}
	return false
}

// matchesWeak is If-None-Match's comparison (RFC 9110 §13.1.2, weak): W/"7"
// names version 7 as "7" does, as a proxy that compresses a response
// weakens its tag.
func (p preconditions) matchesWeak(version int64) bool {
	if p.any {
		return true
	}
	for _, v := range p.weak {
		if v == version {
			return true
		}
	}
	return p.matchesStrong(version)
}

// notModified answers 304 when the request's If-None-Match names the
// item's version (or is "*"), and reports whether it did. A header that
// does not parse is a condition that cannot hold: the item is sent.
func notModified(w http.ResponseWriter, r *http.Request, version int64) bool {
	p, err := parsePreconditions(r, "If-None-Match")
	if err != nil || !p.present || !p.matchesWeak(version) {
		return false
	}
	w.Header().Set("ETag", etag(version))
	w.WriteHeader(http.StatusNotModified)
	return true
}
