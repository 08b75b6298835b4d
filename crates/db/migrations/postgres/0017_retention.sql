-- The retention job deletes SICANTIK calls by age (docs/operator-guide.md, "Data retention").
CREATE INDEX api_calls_called_at ON api_calls (called_at);
-- The dashboard's security signals read recent entries of one action (failed logins, grants).
CREATE INDEX audit_log_action_at ON audit_log (action, at);
