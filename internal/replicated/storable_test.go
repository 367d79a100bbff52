package replicated

import (
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/autorefresh/autorefresh/internal/pgtest"
	"github.com/autorefresh/autorefresh/internal/record"
)

// TestStorableRuleMatchesPostgreSQL holds record.CheckData, the rule both
// modes apply to item data, to what jsonb really accepts: each value is
// refused by the rule exactly when the database refuses it.
func TestStorableRuleMatchesPostgreSQL(t *testing.T) {
	url := pgtest.NewDB(t)
	ctx := ctxFor(t, 30*time.Second)
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	for _, v := range []string{
		`"a\u0000b"`, `{"a\u0000": 1}`, `"\\u0000"`, `"\ud800"`, `"\udc00"`, `"\ud800\udc00"`, `"\ud800x"`,
		`"\ud800\u0041"`, `"\ud800\ud800\udc00"`, `"\uD83D\uDE00"`, `"\u00e9\t"`,
		`1e131071`, `1e131072`, `9.9e131071`, `10e131071`, `0.1e131072`, `-1e131072`,
		`1e-16383`, `1.5e-16383`, `1e-16384`, `0e-16383`, `0e-16384`, `100e-16385`,
		`0.` + strings.Repeat("0", 16383), `0.` + strings.Repeat("0", 16384),
		`1.` + strings.Repeat("0", 16383), `1.` + strings.Repeat("0", 16384),
		`1` + strings.Repeat("0", 131071), `1` + strings.Repeat("0", 131072),
		`0e1073741822`, `0e1073741823`, `0e-1073741822`, `0e99999999999`, `1e1000000`, `1E+5`, `-0`, `-0.0e-0`,
		`[1, {"x": [2.5, "\u0000"]}]`,
	} {
		ruleOK := record.CheckData([]byte(v)) == nil
		_, dbErr := conn.Exec(ctx, "SELECT $1::text::jsonb", v)
		if ruleOK != (dbErr == nil) {
			short := v
			if len(short) > 40 {
				short = short[:20] + "..." + short[len(short)-10:]
			}
			t.Errorf("%s: the rule says storable=%v, PostgreSQL says %v", short, ruleOK, dbErr)
		}
	}
}
