package metrics

import (
	"context"
	"errors"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// DBTracer returns a pgx tracer that counts every statement and connection
// attempt of a PostgreSQL store by result (db_queries_total): ok;
// serialization (a conflict the store retries); canceled (the client went
// away); error (anything else, the database going away included).
func (m *Metrics) DBTracer() interface {
	pgx.QueryTracer
	pgx.ConnectTracer
} {
	return dbTracer{m}
}

type dbTracer struct{ m *Metrics }

func (t dbTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceQueryStartData) context.Context {
	return ctx
}

func (t dbTracer) TraceQueryEnd(_ context.Context, _ *pgx.Conn, data pgx.TraceQueryEndData) {
	t.m.dbCalls.WithLabelValues(dbResult(data.Err)).Inc()
}

func (t dbTracer) TraceConnectStart(ctx context.Context, _ pgx.TraceConnectStartData) context.Context {
	return ctx
}

func (t dbTracer) TraceConnectEnd(_ context.Context, data pgx.TraceConnectEndData) {
	if data.Err != nil {
		t.m.dbCalls.WithLabelValues(dbResult(data.Err)).Inc()
	}
}

func dbResult(err error) string {
	var pe *pgconn.PgError
	switch {
	case err == nil:
		return "ok"
	case errors.As(err, &pe) && (pe.Code == "40001" || pe.Code == "40P01" || pe.Code == "23505"):
		return "serialization"
	case errors.Is(err, context.Canceled):
		return "canceled"
	}
	return "error"
}
