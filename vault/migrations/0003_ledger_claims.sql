-- Signed claims and their settlement: the vault's JWS over each claim,
-- its pricing unit and quantity, and the requester's signed
-- acknowledgement or dispute (with its reason) once it answers.
ALTER TABLE claims ADD COLUMN per TEXT NOT NULL DEFAULT 'run';
ALTER TABLE claims ADD COLUMN quantity INTEGER NOT NULL DEFAULT 1 CHECK (quantity >= 0);
ALTER TABLE claims ADD COLUMN token TEXT NOT NULL DEFAULT '';
ALTER TABLE claims ADD COLUMN response TEXT NOT NULL DEFAULT '';
ALTER TABLE claims ADD COLUMN reason TEXT NOT NULL DEFAULT '';
ALTER TABLE claims ADD COLUMN responded_at TEXT;
