// make-fixtures.mjs makes trove's interoperability fixtures with did-jwt-vc,
// a VC-JWT implementation independent of trove, and checks trove's own
// tokens with it. Run it from this directory:
//
//	npm ci && node make-fixtures.mjs
//
// It writes
//	didjwtvc-credential.jwt    a Consent credential made by did-jwt-vc
//	didjwtvc-presentation.jwt  a presentation of it made by did-jwt-vc
//	didjwtvc-verifies-trove.json  what did-jwt-vc says of trove-credential.jwt
//	                           and trove-presentation.jwt (written by
//	                           `go test ./consent -run Interop -update`)
//
// Keys and times are fixed (the same as the consent package's tests), and
// Ed25519 signatures are deterministic, so the output is reproducible.
import { createHash, createPrivateKey, createPublicKey } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { EdDSASigner, bytesToBase58 } from 'did-jwt'
import {
  createVerifiableCredentialJwt, createVerifiablePresentationJwt,
  verifyCredential, verifyPresentation,
} from 'did-jwt-vc'
import { Resolver } from 'did-resolver'
import { getResolver } from 'key-did-resolver'

const NOW = Date.UTC(2026, 10, 3, 12, 0, 0) / 1000 // the tests' clock: 2026-11-03T12:00:00Z

function keyFromSeed (byte) {
  const seed = Buffer.alloc(32, byte)
  const pkcs8 = Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), seed])
  const pub = Buffer.from(createPublicKey(createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' }))
    .export({ format: 'jwk' }).x, 'base64url')
  const did = 'did:key:z' + bytesToBase58(Buffer.concat([Buffer.from([0xed, 0x01]), pub]))
  return { did, signer: EdDSASigner(new Uint8Array(seed)), alg: 'EdDSA' }
}

const owner = keyFromSeed(1)
const requester = keyFromSeed(2)
const resolver = new Resolver(getResolver())
const listURL = 'https://vault.example/v1/status/1'

const vcJwt = await createVerifiableCredentialJwt({
  sub: requester.did,
  nbf: NOW - 3600,
  exp: NOW + 24 * 3600,
  vc: {
    '@context': ['https://www.w3.org/2018/credentials/v1', 'https://trove-project.github.io/contexts/consent/v1'],
    type: ['VerifiableCredential', 'TroveConsent'],
    credentialSubject: {
      vault: owner.did,
      dataset: { name: 'breast_cancer', digest: 'd4e5f60718293a4b5c6d7e8f9a0b1c2d0b7a3c6f9e1d2a4b5c6d7e8f90a1b2c3' },
      algorithm: 'builtin:stats@1',
      columns: ['radius', 'texture'],
      purpose: 'Study of tumour size distributions.',
      purposeCode: 'research',
      maxRuns: 3,
      output: { policy: 'dp', epsilon: 0.5, delta: 0.000001 },
      price: { amount: 150, currency: 'EUR', per: 'run' },
    },
    credentialStatus: {
      id: listURL + '#94567',
      type: 'BitstringStatusListEntry',
      statusPurpose: 'revocation',
      statusListIndex: '94567',
      statusListCredential: listURL,
    },
  },
}, owner)

const vpJwt = await createVerifiablePresentationJwt({
  vp: {
    '@context': ['https://www.w3.org/2018/credentials/v1'],
    type: ['VerifiablePresentation'],
    verifiableCredential: [vcJwt],
  },
  aud: owner.did,
  nonce: 'n-0123456789abcdef',
  nbf: NOW,
  exp: NOW + 300,
}, requester)

writeFileSync('didjwtvc-credential.jwt', vcJwt + '\n')
writeFileSync('didjwtvc-presentation.jwt', vpJwt + '\n')

// Their verifier on their own tokens and on trove's.
const policies = { now: NOW }
const sha256 = (s) => createHash('sha256').update(s).digest('hex')
const out = {}
for (const [name, kind] of [['didjwtvc-credential.jwt', 'credential'], ['didjwtvc-presentation.jwt', 'presentation'],
  ['trove-credential.jwt', 'credential'], ['trove-presentation.jwt', 'presentation']]) {
  const jwt = readFileSync(name, 'utf8').trim()
  try {
    const v = kind === 'credential'
      ? await verifyCredential(jwt, resolver, { policies })
      : await verifyPresentation(jwt, resolver, { policies, challenge: 'n-0123456789abcdef', domain: owner.did })
    out[name] = { sha256: sha256(jwt), verified: v.verified, issuer: v.issuer, kid: v.signer.id }
  } catch (e) {
    out[name] = { sha256: sha256(jwt), verified: false, error: String(e.message || e) }
  }
}
writeFileSync('didjwtvc-verifies-trove.json', JSON.stringify(out, null, 2) + '\n')
console.log(JSON.stringify(out, null, 2))
