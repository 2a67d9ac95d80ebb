package postgres

import (
	"context"

	"github.com/strata-dev/strata/internal/hub/meta"
)

// AddAudit appends an entry to the audit log.
func (s *Store) AddAudit(ctx context.Context, e meta.AuditEvent) (int64, error) {
	details, err := meta.EncodeDetails(e.Details)
	if err != nil {
		return 0, err
	}
	var id int64
	err = s.db.QueryRow(ctx, `INSERT INTO audit (at, actor, action, addr, target, details)
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING id`,
		unixNano(e.Time), e.Actor, e.Action, e.Addr, e.Target, details).Scan(&id)
	return id, err
}

// AuditLog lists audit entries, newest first.
func (s *Store) AuditLog(ctx context.Context, q meta.AuditQuery) ([]meta.AuditEvent, error) {
	query, args := meta.AuditSQL(q)
	rows, err := s.db.Query(ctx, numbered(query), args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []meta.AuditEvent{}
	for rows.Next() {
		var e meta.AuditEvent
		var at int64
		var details *string
		if err := rows.Scan(&e.ID, &at, &e.Actor, &e.Action, &e.Addr, &e.Target, &details); err != nil {
			return nil, err
		}
		e.Time = fromNano(at)
		if details != nil {
			if e.Details, err = meta.DecodeDetails(*details); err != nil {
				return nil, err
			}
		}
		out = append(out, e)
	}
	return out, rows.Err()
}
