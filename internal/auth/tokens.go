// Package auth decides who may call the API. Tokens come from a file; only
// their SHA-256 hashes are kept in memory, and a presented token is compared
// with every known hash in constant time.
package auth

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
)

// Role is what a token may do.
type Role int

const (
	// Read may GET and watch.
	Read Role = iota + 1
	// Write may also create, delete and register caches.
	Write
)

// String returns the role's name as written in the tokens file.
func (r Role) String() string {
	switch r {
	case Read:
		return "read"
	case Write:
		return "write"
	}
	return "none"
}

// MinTokenLength is the shortest plain token the file may hold: shorter ones
// are guessable.
const MinTokenLength = 16

// maxFileBytes bounds the tokens file.
const maxFileBytes = 1 << 20

// Principal is an authenticated caller.
type Principal struct {
	// Name identifies the token in logs; it is the name given in the file,
	// or a short prefix of the token's hash. Names need not be unique.
	Name string
	// Key is the hex SHA-256 of the token: unique per token, so it keys
	// the rate limit (two tokens named alike must not share a bucket), and
	// safe to hold since the token cannot be recovered from it.
	Key  string
	Role Role
}

type entry struct {
	hash [sha256.Size]byte
	Principal
}

// Tokens is the set of accepted tokens. It is immutable and safe for
// concurrent use.
type Tokens struct {
	entries []entry
}

// LoadFile reads a tokens file. Each line is
//
//	ROLE TOKEN [NAME]
//
// where ROLE is read or write, TOKEN is either the token itself (at least 16
// characters) or "sha256:" and the hex SHA-256 of it (so the file need not
// hold the secret), and NAME is an optional label for logs. Blank lines and
// lines starting with # are ignored.
func LoadFile(path string) (*Tokens, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t, err := Parse(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return t, nil
}

// Parse reads the text of a tokens file; see LoadFile. Errors name the line
// but never repeat a token.
func Parse(b []byte) (*Tokens, error) {
	if len(b) > maxFileBytes {
		return nil, fmt.Errorf("larger than %d bytes", maxFileBytes)
	}
	t := &Tokens{}
	// seen maps a token's hash to the line it was first given on: a token
	// listed twice is a mistake (with two roles, which one was meant?), and
	// silently letting the last line win hides it.
	seen := map[[sha256.Size]byte]int{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		f := strings.Fields(line)
		if len(f) < 2 || len(f) > 3 {
			return nil, fmt.Errorf("line %d: want ROLE TOKEN [NAME]", n)
		}
		var e entry
		switch f[0] {
		case "read":
			e.Role = Read
		case "write":
			e.Role = Write
		default:
			return nil, fmt.Errorf("line %d: role must be read or write", n)
		}
		if hexHash, ok := strings.CutPrefix(f[1], "sha256:"); ok {
			h, err := hex.DecodeString(hexHash)
			if err != nil || len(h) != sha256.Size {
				return nil, fmt.Errorf("line %d: sha256: must be followed by 64 hex digits", n)
			}
			copy(e.hash[:], h)
		} else {
			if len(f[1]) < MinTokenLength {
				return nil, fmt.Errorf("line %d: a token must be at least %d characters", n, MinTokenLength)
			}
			e.hash = sha256.Sum256([]byte(f[1]))
		}
		if first, dup := seen[e.hash]; dup {
			if role := t.roleOf(e.hash); role != e.Role {
				return nil, fmt.Errorf("line %d: the token of line %d again, as %s where that line says %s: give each token one role", n, first, e.Role, role)
			}
			return nil, fmt.Errorf("line %d: the token of line %d again: list each token once", n, first)
		}
		seen[e.hash] = n
		e.Key = hex.EncodeToString(e.hash[:])
		e.Name = "token-" + e.Key[:8]
		if len(f) == 3 {
			e.Name = f[2]
		}
		t.entries = append(t.entries, e)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(t.entries) == 0 {
		return nil, fmt.Errorf("no tokens: an empty file would lock everyone out")
	}
	return t, nil
}

// roleOf returns the role of the entry with hash h.
func (t *Tokens) roleOf(h [sha256.Size]byte) Role {
	for _, e := range t.entries {
		if e.hash == h {
			return e.Role
		}
	}
	return 0
}

// Authenticate returns the principal of token. It hashes the token and
// compares the hash with every entry, without stopping early, so the time it
// takes does not tell which entry (if any) matched.
func (t *Tokens) Authenticate(token string) (Principal, bool) {
	h := sha256.Sum256([]byte(token))
	var found Principal
	ok := 0
	for _, e := range t.entries {
		if subtle.ConstantTimeCompare(h[:], e.hash[:]) == 1 {
			found = e.Principal
			ok = 1
		}
	}
	return found, ok == 1
}

// Len returns the number of tokens.
func (t *Tokens) Len() int { return len(t.entries) }

// LooseMode reports whether the file at path may be read by its group or by
// others (mode & 0o077), and its permission bits. The tokens are secrets, or
// hashes that allow an offline guess, so the caller warns when it is; it is
// not an error, because some deployments mount secrets group-readable on
// purpose.
func LooseMode(path string) (os.FileMode, bool, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return 0, false, err
	}
	mode := fi.Mode().Perm()
	return mode, mode&0o077 != 0, nil
}
