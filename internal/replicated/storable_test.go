package replicated

import (
	"encoding/json"
	"github.com/autorefresh/autorefresh/internal/autorefresh"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/autorefresh/autorefresh/internal/cache"
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

// TestRefusedValueCostsOnlyItsItem: should the database refuse a value that
// the shared rule let through (here a trigger plays that part), the
// write-back drops that item's update alone and applies the rest of the
// batch, instead of retrying the whole batch until its lease lapses.
func TestRefusedValueCostsOnlyItsItem(t *testing.T) {
	url := pgtest.NewDB(t)
	s := newService(t, url)
	ctx := ctxFor(t, 30*time.Second)
	cfg := testCfg("http://127.0.0.1:1/sync", time.Hour, time.Second)
	if _, err := s.Put(ctx, "jobs", cfg); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"p", "q"} {
		if _, _, err := s.CreateItem(ctx, "jobs", autorefresh.NewItem{ID: id, Data: json.RawMessage(`{"was": "created"}`), Terminal: false}); err != nil {
			t.Fatal(err)
		}
	}
	if err := pgtest.Exec(ctx, url, `
		CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN
			IF NEW.data ? 'poison' THEN
				RAISE EXCEPTION 'poisoned value' USING ERRCODE = '22023';
			END IF;
			RETURN NEW;
		END $$;
		CREATE TRIGGER refuse_poison BEFORE UPDATE ON items FOR EACH ROW EXECUTE FUNCTION refuse_poison();`); err != nil {
		t.Fatal(err)
	}
	w, batch := claimN(t, ctx, s, 1, cfg, 2)
	var resps []cache.ItemSyncResponseOf[*record.Record]
	for _, c := range batch {
		data := `{"fine": true}`
		if c.rec.ID == "p" {
			data = `{"poison": true}`
		}
		resps = append(resps, update(c, data)...)
	}
	w.writeBack(ctx, batch, resps, true, false, time.Now())
	q, err := s.GetItem(ctx, "jobs", "q")
	if err != nil || q.Version != 2 || !jsonIs(q.Data, `{"fine": true}`) {
		t.Fatalf("the batch mate of a refused value was not written: %+v, %v", q.Record, err)
	}
	p, err := s.GetItem(ctx, "jobs", "p")
	if err != nil || p.Version != 1 || !jsonIs(p.Data, `{"was": "created"}`) {
		t.Fatalf("the refused value: %+v, %v", p.Record, err)
	}
	for _, id := range []string{"p", "q"} {
		if owner, _ := leaseOf(t, s, "jobs", id); owner != nil {
			t.Fatalf("%s: lease not released (%s)", id, *owner)
		}
	}
}
