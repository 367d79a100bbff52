package auth

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"strings"
	"testing"
)

func TestParseAndAuthenticate(t *testing.T) {
	hashed := sha256.Sum256([]byte("reader-token-0123456789"))
	file := "# who may call\nwrite writer-token-0123456789 ci\n\nread sha256:" + hex.EncodeToString(hashed[:]) + "\n"
	toks, err := Parse([]byte(file))
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := toks.Authenticate("writer-token-0123456789"); !ok || p.Role != Write || p.Name != "ci" {
		t.Fatalf("writer: %+v %v", p, ok)
	}
	if p, ok := toks.Authenticate("reader-token-0123456789"); !ok || p.Role != Read || !strings.HasPrefix(p.Name, "token-") {
		t.Fatalf("reader: %+v %v", p, ok)
	}
	for _, bad := range []string{"", "writer-token-012345678", "writer-token-0123456789x"} {
		if _, ok := toks.Authenticate(bad); ok {
			t.Fatalf("%q accepted", bad)
		}
	}
}

func TestParseRefusesBadFilesWithoutEchoingTokens(t *testing.T) {
	for name, file := range map[string]string{
		"empty":      "# nothing\n",
		"short":      "write short-secret\n",
		"role":       "admin a-very-long-secret-token\n",
		"fields":     "write\n",
		"bad hash":   "read sha256:abcd\n",
		"extra cols": "read a-very-long-secret-token name extra\n",
	} {
		_, err := Parse([]byte(file))
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), "secret") {
			t.Errorf("%s: error repeats the token: %v", name, err)
		}
	}
}

func TestParseRefusesATokenListedTwice(t *testing.T) {
	const tok = "a-very-long-secret-token"
	hashed := sha256.Sum256([]byte(tok))
	for name, c := range map[string]struct{ file, want string }{
		"same role":       {"write " + tok + " ci\n# x\nwrite " + tok + " ci\n", "line 3: the token of line 1 again"},
		"two roles":       {"read " + tok + "\nwrite " + tok + "\n", "line 2: the token of line 1 again, as write where that line says read"},
		"plain and hash":  {"read " + tok + "\nread sha256:" + hex.EncodeToString(hashed[:]) + "\n", "line 2: the token of line 1 again"},
		"hash, two roles": {"write sha256:" + hex.EncodeToString(hashed[:]) + "\nread " + tok + "\n", "as read where that line says write"},
	} {
		_, err := Parse([]byte(c.file))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want %q", name, err, c.want)
			continue
		}
		if strings.Contains(err.Error(), "secret") || strings.Contains(err.Error(), hex.EncodeToString(hashed[:4])) {
			t.Errorf("%s: error repeats the token or its hash: %v", name, err)
		}
	}
}

func TestKeyIsPerTokenNotPerName(t *testing.T) {
	toks, err := Parse([]byte("write first-token-0123456789 ci\nwrite second-token-0123456789 ci\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, _ := toks.Authenticate("first-token-0123456789")
	b, _ := toks.Authenticate("second-token-0123456789")
	if a.Name != b.Name || a.Key == b.Key || len(a.Key) != 64 {
		t.Fatalf("names %q %q, keys %q %q: want one name, two keys", a.Name, b.Name, a.Key, b.Key)
	}
}

func TestLooseMode(t *testing.T) {
	path := t.TempDir() + "/tokens"
	if err := os.WriteFile(path, []byte("read a-very-long-secret-token\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o644); err != nil { // past the umask
		t.Fatal(err)
	}
	if mode, loose, err := LooseMode(path); err != nil || !loose || mode != 0o644 {
		t.Fatalf("0644: %v %v %v", mode, loose, err)
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if mode, loose, err := LooseMode(path); err != nil || loose || mode != 0o600 {
		t.Fatalf("0600: %v %v %v", mode, loose, err)
	}
}
