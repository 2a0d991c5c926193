-- Claims of training rounds settled by the share rule (issue 8). A request
-- and a consent may state a share rule for their price per round
-- ('contribution'; '' for none). A claim under the rule names its
-- provisional amount; the requester settles it with the coordinator's
-- Contribution credential, which sets what is owed.
ALTER TABLE consent_requests ADD COLUMN share TEXT NOT NULL DEFAULT '';
ALTER TABLE consents ADD COLUMN share TEXT NOT NULL DEFAULT '';
ALTER TABLE claims ADD COLUMN share TEXT NOT NULL DEFAULT '';
ALTER TABLE claims ADD COLUMN settled INTEGER CHECK (settled IS NULL OR settled >= 0);
ALTER TABLE claims ADD COLUMN contribution TEXT NOT NULL DEFAULT '';
