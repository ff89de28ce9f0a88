"""Validation of a 情報提供依頼書 (request form): required values, prefecture, recipients, terms, fiscal year.

The recipients (email and CC) are the only addresses a prefecture's data may ever be sent to,
so every one of them must be a well-formed address on that prefecture's own domains
(``email_domains`` in include/config/jurisdiction.yaml; the domain itself or a subdomain of it).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

from tsunagu import normalize
from tsunagu.findings import Finding, error, sort_key, status_of, warning
from tsunagu.intake.request_form import RequestForm, template_extras
from tsunagu.jurisdiction import Jurisdiction, Prefecture, load_jurisdiction
from tsunagu.model import ValidationResult

# Local part: the dot-atom of RFC 5322 (no quoted strings); domain: LDH labels with a TLD of letters.
_LOCAL = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
EMAIL_RE = re.compile(rf"^(?P<local>{_LOCAL})@(?P<domain>(?:{_LABEL}\.)+[A-Za-z]{{2,63}})$")
_PHONE_EXTENSION = re.compile(r"(内線|内|ext\.?|EXT\.?|x).*$")


def check_email(address: str) -> tuple[str | None, str | None]:
    """(normalised address, None) when well formed, else (None, reason). ASCII addresses only."""
    from email.utils import parseaddr

    name, parsed = parseaddr(address)
    if name or parsed != address or len(address) > 254:
        return None, "format"
    m = EMAIL_RE.match(address)
    if m is None or len(m["local"]) > 64:
        return None, "format"
    try:  # a second, independent opinion when the package is there (it is, through FastAPI)
        from email_validator import EmailNotValidError, validate_email
    except ImportError:  # pragma: no cover
        return f"{m['local']}@{m['domain'].lower()}", None
    try:
        info = validate_email(address, check_deliverability=False, allow_smtputf8=False)
    except EmailNotValidError as exc:
        return None, str(exc)
    return f"{info.local_part}@{info.domain.lower()}", None


def domain_allowed(address: str, domains: tuple[str, ...]) -> bool:
    domain = address.rsplit("@", 1)[-1].lower()
    return any(domain == d.lower() or domain.endswith("." + d.lower()) for d in domains)


def resolve_prefecture(value: str, jurisdiction: Jurisdiction) -> tuple[str | None, bool]:
    """(JIS code, in jurisdiction) for 「山梨県」「山梨」「19」; (None, False) when it is no prefecture at all."""
    text = normalize.nfkc(value).replace(" ", "")
    if text.isdigit() and len(text) <= 2:
        code = text.zfill(2)
        return (code, code in jurisdiction) if 1 <= int(code) <= 47 else (None, False)
    names = _prefecture_names(jurisdiction)
    for name, code in names.items():
        if text == name or (len(text) >= 2 and text + name[-1] == name and name[-1] in "都道府県"):
            return code, code in jurisdiction
    return None, False


def _prefecture_names(jurisdiction: Jurisdiction) -> dict[str, str]:
    from tsunagu.municipalities import load_municipalities

    names = {m.prefecture_name: m.prefecture_code for m in load_municipalities().by_code.values()}
    names.update({p.name_ja: p.code for p in jurisdiction.prefectures.values()})
    return names


def _phone_ok(text: str) -> bool:
    main = _PHONE_EXTENSION.sub("", normalize.nfkc(text))
    if re.search(r"[^0-9\-()（） ]", main):
        return False
    digits = re.sub(r"\D", "", main)
    return 10 <= len(digits) <= 11 and digits.startswith("0")


def _missing(form: RequestForm, fid: str) -> Finding:
    label = form.template.field(fid).label_ja
    row, col = form.cells[fid]
    return error(
        "missing_value",
        f"{col}列 {row}行目: 『{label}』が記入されていません",
        f"Cell {col}{row}: '{fid}' ({label}) is blank",
        **form.where(fid),
    )


def validate_request_form(
    form: RequestForm,
    *,
    prefecture_code: str,
    fiscal_year: int | None = None,
    today: dt.date | None = None,
    jurisdiction: Jurisdiction | None = None,
) -> ValidationResult:
    """Check a parsed request form sent by ``prefecture_code``. ``today`` decides the acceptable fiscal years."""
    jurisdiction = jurisdiction or load_jurisdiction()
    today = today or dt.date.today()
    sender: Prefecture = jurisdiction.get(prefecture_code)
    findings = list(form.findings)
    unreadable = {f.field for f in findings if f.code == "invalid_value"}
    v = form.values
    for spec in form.template.fields:
        if spec.required and spec.id in form.cells and spec.id not in unreadable and v.get(spec.id) in (None, ""):
            findings.append(_missing(form, spec.id))

    # Prefecture: in the jurisdiction, and the one that sent the form.
    pref_code = None
    if v.get("prefecture"):
        text = v["prefecture"]
        pref_code, inside = resolve_prefecture(text, jurisdiction)
        if pref_code is None:
            findings.append(error(
                "unknown_prefecture",
                f"『都道府県名』の値『{text}』を都道府県として読めません",
                f"'{text}' is not a prefecture name or code", **form.where("prefecture"),
            ))
        elif not inside:
            findings.append(error(
                "prefecture_not_in_jurisdiction",
                f"『{text}』は{jurisdiction.bureau_ja}の管轄外です",
                f"prefecture '{text}' ({pref_code}) is not in the jurisdiction of this bureau",
                **form.where("prefecture"),
            ))
        elif pref_code != sender.code:
            findings.append(error(
                "prefecture_mismatch",
                f"依頼書の都道府県『{text}』が送付元の{sender.name_ja}と一致しません",
                f"the form names prefecture {pref_code}, but it was sent by {sender.code} ({sender.romaji})",
                **form.where("prefecture"),
            ))

    # Recipients: well formed, on the sending prefecture's own domains.
    recipients: list[str] = []
    valid: dict[str, list[str]] = {"email": [], "cc": []}
    for fid, addresses in (("email", [v["email"]] if v.get("email") else []), ("cc", list(v.get("cc") or ()))):
        label = form.template.field(fid).label_ja
        for address in addresses:
            normal, reason = check_email(address)
            if normal is None:
                findings.append(error(
                    "invalid_email",
                    f"『{label}』の『{address}』はメールアドレスの形式ではありません",
                    f"'{fid}': '{address}' is not a valid email address ({reason})", **form.where(fid),
                ))
                continue
            if not domain_allowed(normal, sender.email_domains):
                allowed = "、".join(sender.email_domains)
                findings.append(error(
                    "email_domain_not_allowed",
                    f"『{label}』の『{address}』は{sender.name_ja}の公用ドメイン（{allowed}）のアドレスではありません",
                    f"'{fid}': '{address}' is not on the domains of prefecture {sender.code} ({', '.join(sender.email_domains)})",
                    **form.where(fid),
                ))
                continue
            if normal in recipients:
                findings.append(warning(
                    "duplicate_recipient",
                    f"『{label}』の『{address}』は既に送付先に含まれています",
                    f"'{fid}': '{address}' is already a recipient", **form.where(fid),
                ))
                continue
            recipients.append(normal)
            valid[fid].append(normal)

    if v.get("phone") and not _phone_ok(v["phone"]):
        findings.append(error(
            "invalid_phone",
            f"『電話番号』の値『{v['phone']}』を電話番号として読めません（市外局番から10〜11桁）",
            f"'{v['phone']}' is not a phone number (10-11 digits with the area code)", **form.where("phone"),
        ))

    if v.get("terms_accepted") is False:
        findings.append(error(
            "terms_not_accepted",
            "利用規約に同意いただけない場合、データを提供できません。『利用規約への同意』で「同意する」を選択してください",
            "The terms of use were not accepted; data cannot be provided without acceptance",
            **form.where("terms_accepted"),
        ))

    fy = v.get("fiscal_year")
    if fy is not None:
        lo, hi = (template_extras(form.template).get("rules") or {}).get("fiscal_year_window", [0, 1])
        current = normalize.fiscal_year_of(today)
        if not current + lo <= fy <= current + hi:
            allowed_ja = "、".join(f"{y}年度（令和{y - 2018}年度）" for y in range(current + lo, current + hi + 1))
            findings.append(error(
                "fiscal_year_out_of_range",
                f"『対象年度』の{fy}年度は受け付けていません（受付できるのは {allowed_ja}）",
                f"fiscal year {fy} cannot be requested on {today.isoformat()} "
                f"(allowed: {', '.join(str(y) for y in range(current + lo, current + hi + 1))})",
                **form.where("fiscal_year"),
            ))
        elif fiscal_year is not None and fy != fiscal_year:
            findings.append(error(
                "fiscal_year_mismatch",
                f"『対象年度』の{fy}年度が受付フォルダの{fiscal_year}年度と一致しません",
                f"the form asks for fiscal year {fy}, but it was received for {fiscal_year}",
                **form.where("fiscal_year"),
            ))

    rd = v.get("request_date")
    if rd is not None and rd > today:
        findings.append(warning(
            "request_date_in_future",
            f"『依頼日』の{rd.isoformat()}は未来の日付です",
            f"the request date {rd.isoformat()} is in the future", **form.where("request_date"),
        ))

    findings.sort(key=sort_key)
    status = status_of(findings)
    record: dict[str, Any] = {
        "prefecture_code": pref_code or sender.code,
        "fiscal_year": fy if fy is not None else fiscal_year,
        "dataset": v.get("dataset"),
        "department": v.get("department"),
        "contact_name": v.get("contact_name"),
        "email": valid["email"][0] if valid["email"] else v.get("email"),
        "cc": tuple(valid["cc"]),
        "phone": v.get("phone"),
        "purpose": v.get("purpose"),
        "request_date": rd,
        "terms_accepted": v.get("terms_accepted"),
        "source_sheet": form.sheet,
        "source_row": form.cells.get("email", (None, None))[0],
    }
    return ValidationResult(status=status, findings=findings, records=[record], rows=1)
