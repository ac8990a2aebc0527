#!/bin/bash
# SPDX-License-Identifier: LGPL-2.1-or-later
# Makes the ID tokens and JWKS that tests/unit/test-jwt.c verifies, with the
# openssl CLI (signatures) and python3's standard library (JSON, base64url),
# then checks every signed token again by another path: it reads the files
# back and verifies with `openssl dgst -verify` / `openssl pkeyutl -verify`
# against the public key written out in PEM.
#
#   tests/unit/data/jwt/make-fixtures.sh
#
# The keys (test keys, nothing else uses them) are made only when missing,
# so that adding a token does not change the others' keys; delete *.pem to
# start over. The tokens expire in 2100 and the test passes its own "now"
# (NOW below): they do not go stale.
set -euo pipefail
cd "$(dirname "$0")"

key() {
	local file=$1
	shift
	[ -f "$file" ] || openssl genpkey "$@" -out "$file" 2>/dev/null
}
key rsa2048.pem -algorithm RSA -pkeyopt rsa_keygen_bits:2048
key rsa2048-b.pem -algorithm RSA -pkeyopt rsa_keygen_bits:2048
key rsa1024.pem -algorithm RSA -pkeyopt rsa_keygen_bits:1024
key p256.pem -algorithm EC -pkeyopt ec_paramgen_curve:P-256
key p384.pem -algorithm EC -pkeyopt ec_paramgen_curve:P-384
key p521.pem -algorithm EC -pkeyopt ec_paramgen_curve:P-521
key ed25519.pem -algorithm ED25519

exec /usr/bin/python3 - <<'EOF'
import base64
import json
import os
import subprocess
import tempfile

NOW = 1700000000          # 2023-11-14 22:13:20 UTC, what test-jwt.c passes
FAR = 4102444800          # 2100-01-01
ISS = "https://idp.example/realms/tv"
CLIENT = "tv-device"

def b64u(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

def unb64u(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))

def openssl(*args, data=None):
    return subprocess.run(["openssl", *args], input=data, check=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE).stdout

def pub_der(pem):
    return openssl("pkey", "-in", pem, "-pubout", "-outform", "DER")

def rsa_jwk(pem, kid, **extra):
    text = openssl("rsa", "-in", pem, "-noout", "-modulus").decode().strip()
    n = bytes.fromhex(text.split("=", 1)[1])
    info = openssl("rsa", "-in", pem, "-noout", "-text").decode()
    e = int(info.split("publicExponent:")[1].split()[0])
    jwk = {"kty": "RSA", "kid": kid, "n": b64u(n),
           "e": b64u(e.to_bytes((e.bit_length() + 7) // 8, "big"))}
    if kid is None:
        del jwk["kid"]
    jwk.update(extra)
    return jwk

def ec_jwk(pem, crv, size, kid, **extra):
    point = pub_der(pem)[-(1 + 2 * size):]
    assert point[0] == 4
    jwk = {"kty": "EC", "crv": crv, "kid": kid,
           "x": b64u(point[1:1 + size]), "y": b64u(point[1 + size:])}
    jwk.update(extra)
    return jwk

def ed_jwk(pem, kid):
    return {"kty": "OKP", "crv": "Ed25519", "kid": kid, "use": "sig",
            "x": b64u(pub_der(pem)[-32:])}

def der_ints(der):
    """r and s of a DER ECDSA-Sig-Value"""
    def length(pos):
        n = der[pos]
        if n < 0x80:
            return n, pos + 1
        k = n & 0x7f
        return int.from_bytes(der[pos + 1:pos + 1 + k], "big"), pos + 1 + k
    assert der[0] == 0x30
    _, pos = length(1)
    out = []
    for _ in range(2):
        assert der[pos] == 0x02
        n, pos = length(pos + 1)
        out.append(int.from_bytes(der[pos:pos + n], "big"))
        pos += n
    return out

def der_from_raw(raw):
    def integer(value):
        body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big")
        return b"\x02" + enc_len(len(body)) + body
    def enc_len(n):
        return bytes([n]) if n < 0x80 else b"\x81" + bytes([n])
    half = len(raw) // 2
    body = integer(int.from_bytes(raw[:half], "big")) + integer(int.from_bytes(raw[half:], "big"))
    return b"\x30" + enc_len(len(body)) + body

HASH = {"256": "-sha256", "384": "-sha384", "512": "-sha512"}
PSS = ["-sigopt", "rsa_padding_mode:pss", "-sigopt", "rsa_pss_saltlen:digest"]
EC_SIZE = {"ES256": 32, "ES384": 48, "ES512": 66}

def tmpfile(data):
    f = tempfile.NamedTemporaryFile(delete=False)
    f.write(data)
    f.close()
    return f.name

def sign(alg, pem, data, der_ecdsa=False):
    if alg.startswith("RS"):
        return openssl("dgst", HASH[alg[2:]], "-sign", pem, data=data)
    if alg.startswith("PS"):
        return openssl("dgst", HASH[alg[2:]], *PSS, "-sign", pem, data=data)
    if alg.startswith("ES"):
        der = openssl("dgst", HASH[alg[2:]], "-sign", pem, data=data)
        if der_ecdsa:
            return der
        size = EC_SIZE[alg]
        return b"".join(v.to_bytes(size, "big") for v in der_ints(der))
    if alg == "EdDSA":
        path = tmpfile(data)
        try:
            return openssl("pkeyutl", "-sign", "-inkey", pem, "-rawin", "-in", path)
        finally:
            os.unlink(path)
    raise ValueError(alg)

def hmac(hexkey, data):
    return openssl("dgst", "-sha256", "-binary", "-mac", "HMAC", "-macopt",
                   "hexkey:" + hexkey, data=data)

def claims(**changes):
    c = {"iss": ISS, "aud": CLIENT, "sub": "user-1234", "iat": NOW - 10, "exp": FAR,
         "preferred_username": "zoe", "name": "Zo\u00eb Example",
         "email": "zoe@example.org"}
    for k, v in changes.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c

def encode(obj):
    if isinstance(obj, bytes):
        return b64u(obj)
    return b64u(json.dumps(obj, ensure_ascii=True, separators=(",", ":")).encode())

written = {}  # name -> (alg, pem, der_ecdsa) of tokens to check again

def token(name, alg, pem, kid, payload, header_extra=None, der_ecdsa=False):
    header = {"alg": alg, "typ": "JWT"}
    if kid is not None:
        header["kid"] = kid
    header.update(header_extra or {})
    signing_input = encode(header) + "." + encode(payload)
    sig = sign(alg, pem, signing_input.encode(), der_ecdsa)
    write(name, signing_input + "." + b64u(sig))
    if not der_ecdsa:
        written[name] = (alg, pem)
    return signing_input, sig

def write(name, text):
    with open(name, "w") as f:
        f.write(text + "\n")

# ---- the JWKS ----
rsa1 = rsa_jwk("rsa2048.pem", "rsa1", use="sig")
ec256 = ec_jwk("p256.pem", "P-256", 32, "ec256", use="sig", alg="ES256")
off_curve = dict(ec256, kid="ec-bad")
y = bytearray(unb64u(off_curve["y"]))
y[-1] ^= 1
off_curve["y"] = b64u(bytes(y))
jwks = {"keys": [
    {"kty": "oct", "kid": "hmac1", "k": b64u(b"not for ID tokens")},
    rsa1,
    rsa_jwk("rsa2048.pem", "rsa1-rs256", alg="RS256"),
    rsa_jwk("rsa2048.pem", "enc1", use="enc"),
    rsa_jwk("rsa2048.pem", "rsa1-no-verify", key_ops=["encrypt"]),
    rsa_jwk("rsa1024.pem", "rsa1024", use="sig"),
    ec256,
    off_curve,
    ec_jwk("p384.pem", "P-384", 48, "ec384"),
    ec_jwk("p521.pem", "P-521", 66, "ec521", key_ops=["verify"]),
    ed_jwk("ed25519.pem", "ed1"),
]}
write("jwks.json", json.dumps(jwks, indent=1))
# no kid in the token: the one RSA key among these
write("jwks-one.json", json.dumps({"keys": [rsa1, ec256]}, indent=1))
# no kid in the token: two RSA keys, which one?
write("jwks-two.json", json.dumps(
    {"keys": [rsa1, rsa_jwk("rsa2048-b.pem", "rsa2", use="sig")]}, indent=1))

# ---- good tokens, one per algorithm ----
for alg, pem, kid in [
        ("RS256", "rsa2048.pem", "rsa1"), ("RS384", "rsa2048.pem", "rsa1"),
        ("RS512", "rsa2048.pem", "rsa1"), ("PS256", "rsa2048.pem", "rsa1"),
        ("PS384", "rsa2048.pem", "rsa1"), ("PS512", "rsa2048.pem", "rsa1"),
        ("ES256", "p256.pem", "ec256"), ("ES384", "p384.pem", "ec384"),
        ("ES512", "p521.pem", "ec521"), ("EdDSA", "ed25519.pem", "ed1")]:
    token(alg.lower() + ".jwt", alg, pem, kid, claims())

# ---- signatures and keys ----
signing_input, sig = token("rs256-tampered-payload.jwt", "RS256", "rsa2048.pem", "rsa1", claims())
header_b64 = signing_input.split(".")[0]
write("rs256-tampered-payload.jwt",
      header_b64 + "." + encode(claims(sub="admin")) + "." + b64u(sig))
del written["rs256-tampered-payload.jwt"]
signing_input, sig = token("rs256-tampered-sig.jwt", "RS256", "rsa2048.pem", "rsa1", claims())
bad = bytearray(sig)
bad[len(bad) // 2] ^= 0x10
write("rs256-tampered-sig.jwt", signing_input + "." + b64u(bytes(bad)))
del written["rs256-tampered-sig.jwt"]
token("rs256-wrong-kid.jwt", "RS256", "rsa2048.pem", "rsa-unknown", claims())
token("rs256-no-kid.jwt", "RS256", "rsa2048.pem", None, claims())
token("rs1024.jwt", "RS256", "rsa1024.pem", "rsa1024", claims())
token("ps256-key-alg-rs256.jwt", "PS256", "rsa2048.pem", "rsa1-rs256", claims())
token("rs256-enc-key.jwt", "RS256", "rsa2048.pem", "enc1", claims())
token("rs256-key-ops.jwt", "RS256", "rsa2048.pem", "rsa1-no-verify", claims())
token("es256-key-for-es384.jwt", "ES384", "p384.pem", "ec256", claims())
token("es256-off-curve.jwt", "ES256", "p256.pem", "ec-bad", claims())
token("es256-der.jwt", "ES256", "p256.pem", "ec256", claims(), der_ecdsa=True)
token("rs256-crit.jwt", "RS256", "rsa2048.pem", "rsa1", claims(),
      header_extra={"crit": ["exp"], "exp": FAR})

# ---- algorithms that are refused ----
write("none.jwt", encode({"alg": "none", "typ": "JWT"}) + "." + encode(claims()) + ".")
# the key confusion attack: HMAC keyed with the public key, once as the
# modulus bytes, once as its PEM text
modulus = unb64u(rsa1["n"])
pub_pem = openssl("pkey", "-in", "rsa2048.pem", "-pubout")
for name, hmac_key in [("hs256.jwt", modulus), ("hs256-pem.jwt", pub_pem)]:
    si = encode({"alg": "HS256", "typ": "JWT", "kid": "rsa1"}) + "." + encode(claims())
    write(name, si + "." + b64u(hmac(hmac_key.hex(), si.encode())))

# ---- claims (all RS256 with rsa1) ----
for name, payload in [
        ("wrong-iss.jwt", claims(iss="https://evil.example/realms/tv")),
        ("iss-nul.jwt", claims(iss=ISS + "\u0000.evil.example")),
        ("no-iss.jwt", claims(iss=None)),
        ("aud-other.jwt", claims(aud="other-client")),
        ("aud-array-azp.jwt", claims(aud=[CLIENT, "account"], azp=CLIENT)),
        ("aud-array-no-azp.jwt", claims(aud=[CLIENT, "account"])),
        ("aud-array-one.jwt", claims(aud=[CLIENT])),
        ("aud-array-other.jwt", claims(aud=["account", "other-client"], azp=CLIENT)),
        ("aud-number.jwt", claims(aud=42)),
        ("no-aud.jwt", claims(aud=None)),
        ("azp-mismatch.jwt", claims(azp="other-client")),
        ("exp-soon.jwt", claims(exp=NOW + 300)),
        ("exp-string.jwt", claims(exp=str(FAR))),
        ("no-exp.jwt", claims(exp=None)),
        ("no-iat.jwt", claims(iat=None)),
        ("iat-ahead.jwt", claims(iat=NOW + 30)),
        ("iat-future.jwt", claims(iat=NOW + 3600)),
        ("nbf-future.jwt", claims(nbf=NOW + 3600)),
        ("nbf-past.jwt", claims(nbf=NOW - 60)),
        ("times-fraction.jwt", claims(iat=NOW - 10.25, exp=FAR + 0.5)),
        ("no-sub.jwt", claims(sub=None)),
        ("sub-control.jwt", claims(sub="user\u00071234")),
        ("sub-long.jwt", claims(sub="u" * 256)),
        ("sub-255.jwt", claims(sub="u" * 255)),
        ("bad-display.jwt", claims(preferred_username=42, name="bell\u0007",
                                   email="z" * 250 + "@example.org")),
        ("min-claims.jwt", claims(preferred_username=None, name=None, email=None))]:
    token(name, "RS256", "rsa2048.pem", "rsa1", payload)
for name, payload in [("payload-not-json.jwt", b"not json"),
                      ("payload-array.jwt", b"[1,2]")]:
    token(name, "RS256", "rsa2048.pem", "rsa1", payload)

# ---- check every signed token again, from the files, by another path ----
for name, (alg, pem) in sorted(written.items()):
    with open(name) as f:
        h, p, s = f.read().strip().split(".")
    data = tmpfile((h + "." + p).encode())
    raw = unb64u(s)
    sigfile = tmpfile(der_from_raw(raw) if alg.startswith("ES") else raw)
    pubfile = tmpfile(openssl("pkey", "-in", pem, "-pubout"))
    try:
        if alg == "EdDSA":
            args = ["pkeyutl", "-verify", "-pubin", "-inkey", pubfile, "-rawin",
                    "-in", data, "-sigfile", sigfile]
        else:
            args = ["dgst", HASH[alg[2:]], *(PSS if alg.startswith("PS") else []),
                    "-verify", pubfile, "-signature", sigfile, data]
        out = openssl(*args).decode()
        assert "Verified OK" in out or "Signature Verified Successfully" in out, (name, out)
    finally:
        for path in (data, sigfile, pubfile):
            os.unlink(path)
print("make-fixtures: %d signed tokens verified again with openssl" % len(written))
EOF
