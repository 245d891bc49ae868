-- Capillary/manage validate as one PostgreSQL transaction: find the person by the unique lower(mobile) index,
-- lock their latest code, count the attempt, write the audit event. Variables: org, base, people.
\set n random(1, :people)
BEGIN;
SELECT id AS person_id FROM otpusers_otpuser WHERE organization_id = :org AND lower(mobile) = '+1555' || lpad(:n::text, 8, '0') AND mobile <> '' \gset
SELECT id AS code_id FROM credentials_issuedcode WHERE otp_user_id = :person_id ORDER BY created_at DESC, id DESC LIMIT 1 FOR UPDATE \gset
UPDATE credentials_issuedcode SET attempts = LEAST(attempts + 1, max_attempts) WHERE id = :code_id;
INSERT INTO otpusers_auditevent (organization_id, actor_type, actor_label, action, object_type, object_id, outcome, reason, detail, client_ip, request_id, created_at) VALUES (:org, 'api_key', 'pgbench', 'code.verify', 'issuedcode', :code_id, 'failure', 'wrong', '{}', '127.0.0.1', '', now());
COMMIT;
