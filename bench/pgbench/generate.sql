-- Capillary generate / manage send as one PostgreSQL transaction: find the person, lock their row, sum the
-- day's sends, read the cooldown, supersede the outstanding code, insert the new code and the audit event.
\set n random(1, :people)
BEGIN;
SELECT id AS person_id FROM otpusers_otpuser WHERE organization_id = :org AND lower(mobile) = '+1555' || lpad(:n::text, 8, '0') AND mobile <> '' \gset
SELECT id FROM otpusers_otpuser WHERE id = :person_id FOR UPDATE;
SELECT COALESCE(SUM(send_count), 0) FROM credentials_issuedcode WHERE otp_user_id = :person_id AND created_at > now() - interval '24 hours';
SELECT last_sent_at FROM credentials_issuedcode WHERE otp_user_id = :person_id AND scope = 'GENERIC' ORDER BY last_sent_at DESC LIMIT 1;
UPDATE credentials_issuedcode SET superseded_at = now() WHERE otp_user_id = :person_id AND scope = 'GENERIC' AND consumed_at IS NULL AND superseded_at IS NULL AND locked_at IS NULL AND revoked_at IS NULL AND valid_until > now();
INSERT INTO credentials_issuedcode (organization_id, otp_user_id, public_id, identifier_type, identifier_value, scope, source, account_id, channels, code_digest, code_sealed, valid_until, attempts, max_attempts, send_count, last_sent_at, delivery_status, delivery_error, created_at) VALUES (:org, :person_id, substr(md5(random()::text), 1, 24), 'mobile', '+1555' || lpad(:n::text, 8, '0'), 'GENERIC', '', '', '["SMS"]', md5(random()::text) || md5(random()::text), '', now() + interval '10 minutes', 0, 5, 1, now(), 'sent', '', now()) RETURNING id AS code_id \gset
INSERT INTO otpusers_auditevent (organization_id, actor_type, actor_label, action, object_type, object_id, outcome, reason, detail, client_ip, request_id, created_at) VALUES (:org, 'api_key', 'pgbench', 'code.issue', 'issuedcode', :code_id, 'success', '', '{}', '127.0.0.1', '', now());
COMMIT;
