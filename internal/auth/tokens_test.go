package auth

import (
	"crypto/sha256"
	"encoding/hex"
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
