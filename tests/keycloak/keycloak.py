#!/usr/bin/python3
"""The real Keycloak on loopback, for devauthd's tests and benchmarks.

    keycloak.py fetch                 the pinned dist into Maven's cache, checked
    keycloak.py start STATE_DIR       unpack, import the realms, start, wait, write STATE_DIR/state.json
    keycloak.py stop STATE_DIR        stop it by the PID in state.json
    keycloak.py restart STATE_DIR     stop and start again on the same ports and data
    keycloak.py wait STATE_DIR        until a start in STATE_DIR is done; 1 when it failed

One server serves a whole suite run (tools/run-suite starts and stops it);
its state file (DEVAUTH_KEYCLOAK_STATE) tells the cases where it listens:
an HTTP port and an HTTPS port with a certificate from a test CA made here,
both on 127.0.0.1. The database is Keycloak's dev-file H2 under the
unpacked dist's data/, so a restart keeps sessions, users and keys.

Runs on Debian's /usr/bin/python3 with the standard library.
"""

import fcntl
import hashlib
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))

# The one Keycloak the project tests against (Maven Central,
# org.keycloak:keycloak-quarkus-dist, type zip) and the SHA-256 of that zip.
VERSION = "26.5.6"
SHA256 = "490189d9dff05272432d51f71a069462eeca97f2920a694d539a1e6c26a5a347"
ARTIFACT = f"org.keycloak:keycloak-quarkus-dist:{VERSION}:zip"
# Keycloak 26 needs Java 21 or later; Debian 12's default java is 17.
JAVA_HOMES = ("/usr/lib/jvm/temurin-25-jdk-amd64", "/usr/lib/jvm/temurin-21-jdk-amd64",
              "/usr/lib/jvm/java-21-openjdk-amd64")
# The realm of the tests, and the realms made from it with a few realm-wide
# settings changed (realm-variants.json).
REALM_FILE = os.path.join(HERE, "realm-devauth.json")
VARIANTS_FILE = os.path.join(HERE, "realm-variants.json")
ADMIN_USER = "admin"
ADMIN_PASSWORD = "admin-test-only"

START_TIMEOUT = 240.0
STOP_TIMEOUT = 30.0


class KeycloakError(Exception):
    pass


def log(msg):
    print(f"keycloak: {msg}", file=sys.stderr, flush=True)


def java_home():
    for home in JAVA_HOMES:
        if os.access(os.path.join(home, "bin", "java"), os.X_OK):
            return home
    raise KeycloakError(f"Keycloak {VERSION} needs Java 21 or later; none of {JAVA_HOMES} exists")


def m2_repository():
    return os.environ.get("DEVAUTH_M2_REPOSITORY",
                          os.path.join(os.path.expanduser("~"), ".m2", "repository"))


def dist_zip_path():
    return os.path.join(m2_repository(), "org", "keycloak", "keycloak-quarkus-dist", VERSION,
                        f"keycloak-quarkus-dist-{VERSION}.zip")


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch():
    """The pinned dist from Maven Central (cached in ~/.m2), its SHA-256 checked."""
    path = dist_zip_path()
    lock_path = os.path.join(m2_repository(), ".devauthd-keycloak.lock")
    os.makedirs(os.path.dirname(lock_path), exist_ok=True)
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not os.path.exists(path):
            argv = ["mvn", "-B", "-q", "--strict-checksums",
                    f"-Dmaven.repo.local={m2_repository()}",
                    "dependency:get", f"-Dartifact={ARTIFACT}", "-Dtransitive=false"]
            log(f"fetching {ARTIFACT}: {' '.join(argv)}")
            try:
                done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True,
                                      text=True, timeout=900)
            except subprocess.TimeoutExpired:
                raise KeycloakError(f"mvn did not fetch {ARTIFACT} within 900 s") from None
            if done.returncode != 0:
                raise KeycloakError(f"mvn could not fetch {ARTIFACT} (exit {done.returncode}):\n"
                                    f"{done.stdout[-4000:]}{done.stderr[-4000:]}")
        digest = sha256_of(path)
        if digest != SHA256:
            # a damaged or substituted download: never run it, never keep it
            os.unlink(path)
            raise KeycloakError(f"{path} has SHA-256 {digest}, expected {SHA256}; removed it")
    return path


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run(argv, **kw):
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          timeout=120, **kw)
    if done.returncode != 0:
        raise KeycloakError(f"{argv[0]} failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


def make_ca(tls_dir):
    """A throw-away CA and a server certificate for 127.0.0.1 and localhost."""
    os.makedirs(tls_dir, mode=0o700, exist_ok=True)
    ca_key, ca_crt = os.path.join(tls_dir, "ca.key"), os.path.join(tls_dir, "ca.crt")
    run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
         "-nodes", "-keyout", ca_key, "-out", ca_crt, "-days", "30",
         "-subj", "/CN=devauthd test CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
    crt, key = sign_leaf(tls_dir, "server", "/CN=127.0.0.1",
                         "extendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
    return ca_crt, crt, key


def sign_leaf(tls_dir, stem, subject, extensions):
    """A P-256 key (STEM.key) and its certificate (STEM.crt: SUBJECT, the
    EXTENSIONS lines) from the test CA of make_ca(): (cert file, key file)."""
    key, csr, crt, ext = (os.path.join(tls_dir, f"{stem}.{n}") for n in ("key", "csr", "crt", "ext"))
    run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", key, "-out", csr, "-subj", subject])
    with open(ext, "w") as f:
        f.write("basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n" + extensions)
    run(["openssl", "x509", "-req", "-in", csr, "-CA", os.path.join(tls_dir, "ca.crt"),
         "-CAkey", os.path.join(tls_dir, "ca.key"), "-CAcreateserial", "-out", crt, "-days", "30",
         "-extfile", ext])
    os.chmod(key, 0o600)
    return crt, key


def make_client_key(tls_dir):
    """The key of the client tv-jwt (Keycloak's "Signed JWT"), made for each
    run, and its self-signed certificate as Keycloak keeps it (base64 DER)."""
    key, crt = os.path.join(tls_dir, "client-jwt.key"), os.path.join(tls_dir, "client-jwt.crt")
    run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
         "-out", crt, "-days", "30", "-subj", "/CN=tv-jwt"])
    os.chmod(key, 0o600)
    with open(crt) as f:
        body = "".join(line.strip() for line in f if not line.startswith("-----"))
    return key, body


def make_x509_client(tls_dir, common_name):
    """A client certificate (CN=@common_name) of the test CA, for the
    client tv-x509 (Keycloak's "X509 Certificate"): (cert file, key file)."""
    return sign_leaf(tls_dir, f"client-{common_name}", f"/CN={common_name}",
                     "extendedKeyUsage=clientAuth\n")


def x509_client():
    return {
        "clientId": "tv-x509", "name": "tv-x509", "enabled": True, "protocol": "openid-connect",
        "publicClient": False, "standardFlowEnabled": False, "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False, "serviceAccountsEnabled": True,
        "clientAuthenticatorType": "client-x509",
        "attributes": {"oauth2.device.authorization.grant.enabled": "true",
                       "oauth2.device.polling.interval": "1",
                       "x509.subjectdn": "CN=tv-x509",
                       "x509.allow.regex.pattern.comparison": "false"},
        "description": "Device and service client with a TLS client certificate "
                       "(tls_client_auth)",
    }


def jwt_client(cert_b64):
    return {
        "clientId": "tv-jwt", "name": "tv-jwt", "enabled": True, "protocol": "openid-connect",
        "publicClient": False, "standardFlowEnabled": False, "implicitFlowEnabled": False,
        "directAccessGrantsEnabled": False, "serviceAccountsEnabled": True,
        "clientAuthenticatorType": "client-jwt",
        "attributes": {"oauth2.device.authorization.grant.enabled": "true",
                       "oauth2.device.polling.interval": "1",
                       "jwt.credential.certificate": cert_b64,
                       "token.endpoint.auth.signing.alg": "RS256"},
        "description": "Device and service client with a signed JWT (private_key_jwt)",
    }


def state_path(state_dir):
    return os.path.join(state_dir, "state.json")


def read_state(state_dir):
    with open(state_path(state_dir)) as f:
        return json.load(f)


def write_state(state_dir, state):
    tmp = state_path(state_dir) + ".tmp"
    with open(tmp, "w") as f:
        json.dump(state, f, indent=1)
    os.replace(tmp, state_path(state_dir))


def http_get(url, timeout=5, cafile=None):
    import ssl
    handlers = [urllib.request.ProxyHandler({})]
    if cafile:
        handlers.append(urllib.request.HTTPSHandler(
            context=ssl.create_default_context(cafile=cafile)))
    opener = urllib.request.build_opener(*handlers)
    with opener.open(url, timeout=timeout) as resp:
        return resp.status, resp.read()


def process_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # a zombie of ours is not alive
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def launch(state_dir, state):
    """Starts kc.sh start-dev for state; returns once every realm answers."""
    home = state["home"]
    env = dict(os.environ)
    for var in ("http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "JAVA_OPTS"):
        env.pop(var, None)
    env.update({"JAVA_HOME": java_home(), "KC_BOOTSTRAP_ADMIN_USERNAME": ADMIN_USER,
                "KC_BOOTSTRAP_ADMIN_PASSWORD": ADMIN_PASSWORD,
                # a small heap: two cores, and the rest of the suite runs beside it
                "JAVA_OPTS_KC_HEAP": "-Xms64m -Xmx768m -XX:MaxMetaspaceSize=256m"})
    argv = [os.path.join(home, "bin", "kc.sh"), "start-dev", "--import-realm",
            "--db=dev-file",
            "--http-host=127.0.0.1", f"--http-port={state['http_port']}",
            f"--https-port={state['https_port']}",
            f"--https-certificate-file={state['server_cert']}",
            f"--https-certificate-key-file={state['server_key']}",
            # a client certificate when one is shown (tv-x509), of the test CA
            "--https-client-auth=request", f"--truststore-paths={state['ca']}",
            f"--http-management-port={state['management_port']}",
            "--cache=local", "--log-level=INFO"]
    log_path = os.path.join(state_dir, f"keycloak-{state['starts'] + 1}.log")
    with open(log_path, "w") as out:
        proc = subprocess.Popen(argv, cwd=home, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    state["pid"] = proc.pid
    state["starts"] += 1
    state["log"] = log_path
    write_state(state_dir, state)
    deadline = time.monotonic() + START_TIMEOUT
    pending = list(state["realms"])
    while pending:
        if proc.poll() is not None:
            with open(log_path, errors="replace") as f:
                tail = f.read()[-6000:]
            raise KeycloakError(f"Keycloak exited with {proc.returncode} while starting:\n{tail}")
        if time.monotonic() > deadline:
            stop(state_dir)
            raise KeycloakError(f"Keycloak did not serve realms {pending} within {START_TIMEOUT} s")
        realm = pending[0]
        try:
            status, _ = http_get(f"{state['http']}/realms/{realm}/.well-known/openid-configuration")
            if status == 200:
                pending.pop(0)
                continue
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.5)
    status, _ = http_get(f"{state['https']}/realms/{state['realms'][0]}/.well-known/openid-configuration",
                         cafile=state["ca"])
    if status != 200:
        raise KeycloakError(f"the HTTPS listener answered {status}")


def realm_documents():
    with open(REALM_FILE) as f:
        base = json.load(f)
    yield base
    with open(VARIANTS_FILE) as f:
        variants = json.load(f)
    for name, settings in variants.items():
        if name.startswith("_"):
            continue
        realm = json.loads(json.dumps(base))
        realm.update(settings)
        realm["realm"] = name
        realm["displayName"] = f"{base['displayName']} ({name})"
        yield realm


def start(state_dir):
    zip_path = fetch()
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    home = os.path.join(state_dir, f"keycloak-{VERSION}")
    if os.path.exists(home):
        shutil.rmtree(home)
    run(["unzip", "-q", zip_path, "-d", state_dir])
    import_dir = os.path.join(home, "data", "import")
    os.makedirs(import_dir, exist_ok=True)
    realms = []
    tls_dir = os.path.join(state_dir, "tls")
    os.makedirs(tls_dir, mode=0o700, exist_ok=True)
    jwt_key, jwt_cert = make_client_key(tls_dir)
    for realm in realm_documents():
        # the variants are copies of the base realm, made after it got it
        if not any(c["clientId"] == "tv-jwt" for c in realm["clients"]):
            realm["clients"].append(jwt_client(jwt_cert))
        if not any(c["clientId"] == "tv-x509" for c in realm["clients"]):
            realm["clients"].append(x509_client())
        realms.append(realm["realm"])
        with open(os.path.join(import_dir, f"{realm['realm']}-realm.json"), "w") as f:
            json.dump(realm, f)
    ca, cert, key = make_ca(tls_dir)
    x509_cert, x509_key = make_x509_client(tls_dir, "tv-x509")
    other_cert, other_key = make_x509_client(tls_dir, "intruder")
    http_port, https_port, management_port = free_port(), free_port(), free_port()
    state = {"version": VERSION, "home": home, "pid": None, "starts": 0, "realms": realms,
             "http_port": http_port, "https_port": https_port,
             "management_port": management_port,
             "http": f"http://127.0.0.1:{http_port}", "https": f"https://127.0.0.1:{https_port}",
             "ca": ca, "server_cert": cert, "server_key": key, "client_jwt_key": jwt_key,
             "client_x509": [x509_cert, x509_key], "client_x509_other": [other_cert, other_key],
             "admin_user": ADMIN_USER, "admin_password": ADMIN_PASSWORD}
    t0 = time.monotonic()
    launch(state_dir, state)
    state["ready"] = True
    write_state(state_dir, state)
    log(f"Keycloak {VERSION} serves {state['http']} and {state['https']} "
        f"(pid {state['pid']}, {time.monotonic() - t0:.0f} s)")
    return state


def stop(state_dir):
    """SIGTERM to Keycloak's process group (kc.sh execs java), SIGKILL after STOP_TIMEOUT."""
    try:
        state = read_state(state_dir)
    except FileNotFoundError:
        return None
    pid = state.get("pid")
    if not pid:
        return state
    for sig, wait in ((signal.SIGTERM, STOP_TIMEOUT), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(pid, sig)
        except ProcessLookupError:
            break
        deadline = time.monotonic() + wait
        while process_alive(pid) and time.monotonic() < deadline:
            try:
                os.waitpid(pid, os.WNOHANG)
            except ChildProcessError:
                pass
            time.sleep(0.1)
        if not process_alive(pid):
            break
    # the rest of the group, should java have left a child behind
    try:
        os.killpg(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    state["pid"] = None
    write_state(state_dir, state)
    return state


def restart(state_dir):
    state = stop(state_dir)
    if state is None:
        raise KeycloakError(f"no Keycloak state in {state_dir}")
    launch(state_dir, state)
    return state


def wait(state_dir, timeout=START_TIMEOUT + 900):
    """Until the start in state_dir (by another process) is done: True when
    Keycloak serves, False when the start failed (its words are in failed)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if os.path.exists(os.path.join(state_dir, "failed")):
            with open(os.path.join(state_dir, "failed")) as f:
                log(f"the start failed: {f.read().strip()}")
            return False
        try:
            if read_state(state_dir).get("ready"):
                return True
        except (FileNotFoundError, ValueError):
            pass
        time.sleep(0.5)
    log(f"Keycloak was not ready within {timeout:.0f} s")
    return False


def main(argv):
    try:
        if argv[1:] == ["fetch"]:
            print(fetch())
        elif len(argv) == 3 and argv[1] == "start":
            state_dir = os.path.abspath(argv[2])
            try:
                start(state_dir)
            except BaseException as e:
                os.makedirs(state_dir, exist_ok=True)
                with open(os.path.join(state_dir, "failed"), "w") as f:
                    f.write(f"{e}\n")
                stop(state_dir)
                raise
        elif len(argv) == 3 and argv[1] == "wait":
            return 0 if wait(os.path.abspath(argv[2])) else 1
        elif len(argv) == 3 and argv[1] == "stop":
            stop(os.path.abspath(argv[2]))
        elif len(argv) == 3 and argv[1] == "restart":
            restart(os.path.abspath(argv[2]))
        else:
            print(__doc__, file=sys.stderr)
            return 2
    except KeycloakError as e:
        log(str(e))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
