package pgtest

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestSharedDatabasesAreSeparate(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, b := NewDB(t), NewDB(t)
	if a == b {
		t.Fatal("same database twice")
	}
	if err := Exec(ctx, a, "CREATE TABLE x (v int)"); err != nil {
		t.Fatal(err)
	}
	if err := Exec(ctx, b, "CREATE TABLE x (v int)"); err != nil {
		t.Fatalf("databases are not separate: %v", err)
	}
}

func TestStopImmediateAndStartKeepsCommittedData(t *testing.T) {
	c := Own(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	url, err := c.CreateDatabase(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := Exec(ctx, url, "CREATE TABLE x (v int); INSERT INTO x VALUES (42)"); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop("immediate"); err != nil {
		t.Fatal(err)
	}
	if err := Exec(ctx, url, "SELECT 1"); err == nil {
		t.Fatal("server still answers after Stop")
	}
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var v int
	if err := conn.QueryRow(ctx, "SELECT v FROM x").Scan(&v); err != nil || v != 42 {
		t.Fatalf("after restart: %d, %v", v, err)
	}
}
