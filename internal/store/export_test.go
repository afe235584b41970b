package store

import "context"

// ExecRaw runs raw SQL (with ? placeholders) on the write connection, so
// tests can corrupt data behind the store's back.
func (db *DB) ExecRaw(ctx context.Context, query string, args ...any) error {
	_, err := db.w.ExecContext(ctx, db.q(query), args...)
	return err
}
