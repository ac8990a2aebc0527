"""The person on the sofa, for the real Keycloak: approves or denies a device
code by filling in Keycloak's own HTML pages, as a browser would.

Pages, in the order Keycloak shows them (login theme keycloak.v2):
- the device page, `/realms/R/device`: a form with `device_user_code`
  (skipped when the URL carries `?user_code=`);
- the login form (`username`, `password`);
- the grant page ("Do you grant these access privileges?"), with the
  buttons `accept` and `cancel`: Keycloak shows it for every device
  sign-in, consent required or not;
- an info page: "Device Login Successful" or a failure.

No admin API is used. A fresh cookie jar per approval is a fresh browser.
Keycloak sets its cookies `Secure`; browsers send them to http://127.0.0.1
(a loopback origin is a secure context), so this cookie policy does too.

Standard library only (Debian's /usr/bin/python3).
"""

import html
import html.parser
import http.cookiejar
import re
import ssl
import urllib.error
import urllib.parse
import urllib.request

LOOPBACK = ("127.0.0.1", "localhost", "::1")
MAX_PAGES = 12
MAX_BODY = 1 << 20


class ApprovalError(Exception):
    pass


class LoopbackSecureCookiePolicy(http.cookiejar.DefaultCookiePolicy):
    def return_ok_secure(self, cookie, request):
        host = urllib.parse.urlsplit(request.get_full_url()).hostname
        return host in LOOPBACK or super().return_ok_secure(cookie, request)


class _Forms(html.parser.HTMLParser):
    """Every form: id, action, method, inputs (name → value) and submit buttons."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.forms = []
        self.title = ""
        self._in_title = False
        self.text = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "form":
            self.forms.append({"id": a.get("id", ""), "action": a.get("action", ""),
                               "method": (a.get("method") or "get").lower(),
                               "inputs": {}, "buttons": {}})
        elif tag in ("input", "button") and self.forms:
            form = self.forms[-1]
            name = a.get("name")
            kind = (a.get("type") or ("submit" if tag == "button" else "text")).lower()
            if not name:
                return
            if kind == "submit":
                form["buttons"][name] = a.get("value", "")
            elif kind in ("checkbox", "radio"):
                if "checked" in a:
                    form["inputs"][name] = a.get("value", "on")
            else:
                form["inputs"][name] = a.get("value", "")
        elif tag == "title":
            self._in_title = True

    def handle_endtag(self, tag):
        if tag == "title":
            self._in_title = False

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        self.text.append(data)


def _page_text(parser):
    return re.sub(r"\s+", " ", " ".join(parser.text)).strip()


class Browser:
    def __init__(self, cafile=None):
        self.jar = http.cookiejar.CookieJar(LoopbackSecureCookiePolicy())
        handlers = [urllib.request.ProxyHandler({}), urllib.request.HTTPCookieProcessor(self.jar)]
        if cafile:
            handlers.append(urllib.request.HTTPSHandler(
                context=ssl.create_default_context(cafile=cafile)))
        self.opener = urllib.request.build_opener(*handlers)
        self.pages = []  # (kind, url) of every page seen

    def open(self, url, form=None, timeout=15):
        if urllib.parse.urlsplit(url).hostname not in LOOPBACK:
            raise ApprovalError(f"refusing a non-loopback URL: {url}")
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        req = urllib.request.Request(url, data=data, method="POST" if data is not None else "GET")
        try:
            with self.opener.open(req, timeout=timeout) as resp:
                return resp.status, resp.url, resp.read(MAX_BODY).decode("utf-8", "replace")
        except urllib.error.HTTPError as e:
            return e.code, e.url, e.read(MAX_BODY).decode("utf-8", "replace")


def classify(parser):
    """What a page is: user-code, login, grant, success, failure or unknown."""
    for form in parser.forms:
        if "device_user_code" in form["inputs"]:
            return "user-code", form
        if "username" in form["inputs"] and "password" in form["inputs"]:
            return "login", form
        if "accept" in form["buttons"] or "cancel" in form["buttons"]:
            return "grant", form
    text = _page_text(parser)
    if re.search(r"Device Login Successful|device login successful", text, re.I):
        return "success", None
    return "unknown", None


def approve(uri, user="alice", password=None, user_code=None, deny=False, cafile=None,
            wrong_password=False, browser=None):
    """Goes through the pages from uri (verification_uri_complete, or
    verification_uri with user_code) and accepts or denies the grant.
    Returns (outcome, browser): outcome "approved", "denied" or the page's
    text when Keycloak refused; browser.pages lists what was shown. Pass
    the browser of an earlier approval to approve within its SSO session."""
    password = password or f"{user}-password"
    if wrong_password:
        password += "-wrong"
    b = browser or Browser(cafile)
    b.pages = []
    status, url, body = b.open(uri)
    for _ in range(MAX_PAGES):
        p = _Forms()
        p.feed(body)
        kind, form = classify(p)
        b.pages.append((kind, url))
        if kind == "success":
            return "approved", b
        if kind == "unknown":
            text = _page_text(p)
            if deny and re.search(r"consent denied|access denied|denied", text, re.I):
                return "denied", b
            return f"{status} {html.unescape(p.title.strip())}: {text[-600:]}", b
        action = urllib.parse.urljoin(url, html.unescape(form["action"]))
        fields = dict(form["inputs"])
        if kind == "user-code":
            if user_code is None:
                raise ApprovalError(f"the device page asks for a code and none was given ({url})")
            fields["device_user_code"] = user_code
        elif kind == "login":
            if any(k == "login" for k, _ in b.pages[:-1]) and not wrong_password:
                text = _page_text(p)
                raise ApprovalError(f"Keycloak showed the login form again: {text[-400:]}")
            if any(k == "login" for k, _ in b.pages[:-1]):
                return "login-refused", b
            fields.update({"username": user, "password": password})
        elif kind == "grant":
            button = "cancel" if deny else "accept"
            if button not in form["buttons"]:
                raise ApprovalError(f"the grant page has no {button!r} button ({url})")
            fields[button] = form["buttons"][button] or button
        status, url, body = b.open(action, form=fields)
    raise ApprovalError(f"no end after {MAX_PAGES} pages: {b.pages}")


def main(argv):
    """approver.py --uri URI [--user NAME] [--code CODE] [--cafile CA] [--deny]:
    prints "approved" or "denied" and exits 0, else says why and exits 1."""
    import argparse
    import sys
    ap = argparse.ArgumentParser(prog="approver.py")
    ap.add_argument("--uri", required=True)
    ap.add_argument("--user", default="alice")
    ap.add_argument("--password")
    ap.add_argument("--code")
    ap.add_argument("--cafile")
    ap.add_argument("--deny", action="store_true")
    args = ap.parse_args(argv[1:])
    try:
        outcome, _ = approve(args.uri, user=args.user, password=args.password,
                             user_code=args.code, deny=args.deny, cafile=args.cafile)
    except (ApprovalError, OSError) as e:
        print(f"approver: {e}", file=sys.stderr)
        return 1
    print(outcome)
    return 0 if outcome in ("approved", "denied") else 1


if __name__ == "__main__":
    import sys
    sys.exit(main(sys.argv))
