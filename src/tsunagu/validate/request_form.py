"""Validation of a 情報提供依頼書 (request form): required values, prefecture, recipients, terms, fiscal year.

The recipients (email and CC) are the only addresses a prefecture's data may ever be sent to,
so every one of them must be a well-formed address on that prefecture's own domains
(``email_domains`` in include/config/jurisdiction.yaml; the domain itself or a subdomain of it).

The form is one "row" of labelled cells (:class:`FormRow`); its checks are the small named rules of
:data:`RULES` (:mod:`tsunagu.validate.registry`), each with its code and messages.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from tsunagu import normalize
from tsunagu.findings import Finding, sort_key, status_of
from tsunagu.intake.request_form import RequestForm, template_extras
from tsunagu.jurisdiction import Jurisdiction, Prefecture, load_jurisdiction
from tsunagu.model import FormTemplate, ValidationResult
from tsunagu.validate.registry import Hit, RuleSet, no_prefix, prefix_cell

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


# ----------------------------------------------------------------------------------------- the form as a row


@dataclass
class FormRow:
    """A request form as one "row" of labelled cells: each field's value and where its value cell is."""

    form: RequestForm

    @property
    def sheet(self) -> str:
        return self.form.sheet

    @property
    def values(self) -> dict[str, Any]:
        return self.form.values

    @property
    def columns(self) -> dict[str, str]:
        return {fid: col for fid, (_, col) in self.form.cells.items()}

    def row_of(self, field_id: str) -> int | None:
        return self.form.cells.get(field_id, (None, None))[0]

    def get(self, field_id: str) -> Any:
        return self.form.values.get(field_id)


@dataclass(frozen=True)
class Recipient:
    """An address given in 『メールアドレス』 or 『CC』, screened: ``problem`` is None for a recipient."""

    field: str  # email | cc
    address: str  # as written
    normal: str | None  # normalised when well formed
    problem: str | None = None  # format | domain | duplicate
    reason: str | None = None  # why the format is wrong


def screen_recipients(values: dict[str, Any], sender: Prefecture) -> list[Recipient]:
    """Every address of the form in order: well formed, on the sender's own domains, given once."""
    out: list[Recipient] = []
    taken: set[str] = set()
    for fid, addresses in (("email", [values["email"]] if values.get("email") else []),
                           ("cc", list(values.get("cc") or ()))):
        for address in addresses:
            normal, reason = check_email(address)
            if normal is None:
                out.append(Recipient(fid, address, None, "format", reason))
            elif not domain_allowed(normal, sender.email_domains):
                out.append(Recipient(fid, address, normal, "domain"))
            elif normal in taken:
                out.append(Recipient(fid, address, normal, "duplicate"))
            else:
                taken.add(normal)
                out.append(Recipient(fid, address, normal))
    return out


@dataclass
class FormContext:
    """What a request form is checked against: the sender, the jurisdiction, the day and the receiving folder."""

    template: FormTemplate
    jurisdiction: Jurisdiction
    sender: Prefecture
    today: dt.date
    fiscal_year: int | None  # of the folder it was received in
    unreadable: set[str] = field(default_factory=set)  # fields already reported as invalid_value
    columns: dict[str, str] = field(default_factory=dict)

    def label(self, field_id: str) -> str:
        try:
            return self.template.field(field_id).label_ja
        except KeyError:
            return field_id

    def fiscal_years(self) -> range:
        """The fiscal years that can be requested today (rules.fiscal_year_window of the template)."""
        lo, hi = (template_extras(self.template).get("rules") or {}).get("fiscal_year_window", [0, 1])
        current = normalize.fiscal_year_of(self.today)
        return range(current + lo, current + hi + 1)


def prefecture_of(form: FormRow, ctx: FormContext) -> tuple[str, str | None, bool] | None:
    """(as written, JIS code or None, in the jurisdiction) of 『都道府県名』; None when blank."""
    text = form.get("prefecture")
    if not text:
        return None
    code, inside = resolve_prefecture(text, ctx.jurisdiction)
    return text, code, inside


# ----------------------------------------------------------------------------------------- rules

RULES = RuleSet("request_form", prefix=no_prefix)
Hits = Iterator[Hit]


@RULES.rule("missing_value", prefix=prefix_cell,
            ja="『{label}』が記入されていません", en="'{field}' ({label}) is blank")
def required_values_given(form: FormRow, ctx: FormContext) -> Hits:
    """A required field whose label is on the form has a value (an unreadable one is already reported)."""
    for spec in ctx.template.fields:
        fid = spec.id
        if spec.required and fid in form.form.cells and fid not in ctx.unreadable and form.get(fid) in (None, ""):
            yield Hit(form, fid)


@RULES.rule("unknown_prefecture",
            ja="『都道府県名』の値『{text}』を都道府県として読めません", en="'{text}' is not a prefecture name or code")
def prefecture_is_a_prefecture(form: FormRow, ctx: FormContext) -> Hits:
    pref = prefecture_of(form, ctx)
    if pref is not None and pref[1] is None:
        yield Hit(form, "prefecture", text=pref[0])


@RULES.rule("prefecture_not_in_jurisdiction",
            ja="『{text}』は{bureau}の管轄外です",
            en="prefecture '{text}' ({code}) is not in the jurisdiction of this bureau")
def prefecture_in_jurisdiction(form: FormRow, ctx: FormContext) -> Hits:
    pref = prefecture_of(form, ctx)
    if pref is not None and pref[1] is not None and not pref[2]:
        yield Hit(form, "prefecture", text=pref[0], code=pref[1], bureau=ctx.jurisdiction.bureau_ja)


@RULES.rule("prefecture_mismatch",
            ja="依頼書の都道府県『{text}』が送付元の{sender_ja}と一致しません",
            en="the form names prefecture {code}, but it was sent by {sender} ({sender_romaji})")
def prefecture_is_the_sender(form: FormRow, ctx: FormContext) -> Hits:
    """The prefecture named on the form is the one that sent it."""
    pref = prefecture_of(form, ctx)
    if pref is not None and pref[1] is not None and pref[2] and pref[1] != ctx.sender.code:
        yield Hit(form, "prefecture", text=pref[0], code=pref[1], sender=ctx.sender.code,
                  sender_ja=ctx.sender.name_ja, sender_romaji=ctx.sender.romaji)


def _recipients(form: FormRow, ctx: FormContext, problem: str) -> Hits:
    for r in screen_recipients(form.values, ctx.sender):
        if r.problem == problem:
            yield Hit(form, r.field, address=r.address, reason=r.reason, domains_ja="、".join(ctx.sender.email_domains),
                      domains=", ".join(ctx.sender.email_domains), sender=ctx.sender.code,
                      sender_ja=ctx.sender.name_ja)


@RULES.rule("invalid_email",
            ja="『{label}』の『{address}』はメールアドレスの形式ではありません",
            en="'{field}': '{address}' is not a valid email address ({reason})")
def recipients_are_addresses(form: FormRow, ctx: FormContext) -> Hits:
    yield from _recipients(form, ctx, "format")


@RULES.rule("email_domain_not_allowed",
            ja="『{label}』の『{address}』は{sender_ja}の公用ドメイン（{domains_ja}）のアドレスではありません",
            en="'{field}': '{address}' is not on the domains of prefecture {sender} ({domains})")
def recipients_on_sender_domains(form: FormRow, ctx: FormContext) -> Hits:
    """The recipients are the only addresses a prefecture's data may go to: its own domains (or subdomains)."""
    yield from _recipients(form, ctx, "domain")


@RULES.rule("duplicate_recipient", severity="warning",
            ja="『{label}』の『{address}』は既に送付先に含まれています",
            en="'{field}': '{address}' is already a recipient")
def recipients_given_once(form: FormRow, ctx: FormContext) -> Hits:
    yield from _recipients(form, ctx, "duplicate")


@RULES.rule("invalid_phone",
            ja="『電話番号』の値『{phone}』を電話番号として読めません（市外局番から10〜11桁）",
            en="'{phone}' is not a phone number (10-11 digits with the area code)")
def phone_is_a_number(form: FormRow, ctx: FormContext) -> Hits:
    phone = form.get("phone")
    if phone and not _phone_ok(phone):
        yield Hit(form, "phone", phone=phone)


@RULES.rule("terms_not_accepted",
            ja="利用規約に同意いただけない場合、データを提供できません。『利用規約への同意』で「同意する」を選択してください",
            en="The terms of use were not accepted; data cannot be provided without acceptance")
def terms_accepted(form: FormRow, ctx: FormContext) -> Hits:
    if form.get("terms_accepted") is False:
        yield Hit(form, "terms_accepted")


@RULES.rule("fiscal_year_out_of_range",
            ja="『対象年度』の{fy}年度は受け付けていません（受付できるのは {allowed_ja}）",
            en="fiscal year {fy} cannot be requested on {today} (allowed: {allowed})")
def fiscal_year_in_window(form: FormRow, ctx: FormContext) -> Hits:
    """対象年度 is one that can be requested today (the current or next fiscal year by default)."""
    fy = form.get("fiscal_year")
    years = ctx.fiscal_years()
    if fy is not None and fy not in years:
        yield Hit(form, "fiscal_year", fy=fy, today=ctx.today.isoformat(),
                  allowed_ja="、".join(f"{y}年度（令和{y - 2018}年度）" for y in years),
                  allowed=", ".join(str(y) for y in years))


@RULES.rule("fiscal_year_mismatch",
            ja="『対象年度』の{fy}年度が受付フォルダの{folder}年度と一致しません",
            en="the form asks for fiscal year {fy}, but it was received for {folder}")
def fiscal_year_of_the_folder(form: FormRow, ctx: FormContext) -> Hits:
    """A form received in a fiscal year's folder asks for that year (checked when the year can be requested)."""
    fy = form.get("fiscal_year")
    if fy is not None and ctx.fiscal_year is not None and fy in ctx.fiscal_years() and fy != ctx.fiscal_year:
        yield Hit(form, "fiscal_year", fy=fy, folder=ctx.fiscal_year)


@RULES.rule("request_date_in_future", severity="warning",
            ja="『依頼日』の{date}は未来の日付です", en="the request date {date} is in the future")
def request_date_not_in_future(form: FormRow, ctx: FormContext) -> Hits:
    rd = form.get("request_date")
    if rd is not None and rd > ctx.today:
        yield Hit(form, "request_date", date=rd.isoformat())


# ----------------------------------------------------------------------------------------- validate


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
    ctx = FormContext(
        template=form.template, jurisdiction=jurisdiction, sender=jurisdiction.get(prefecture_code),
        today=today or dt.date.today(), fiscal_year=fiscal_year,
        unreadable={f.field for f in form.findings if f.code == "invalid_value" and f.field},
    )
    row = FormRow(form)
    findings: list[Finding] = [*form.findings, *RULES.run(row, ctx)]
    findings.sort(key=sort_key)
    return ValidationResult(status=status_of(findings), findings=findings, records=[_record(row, ctx)], rows=1)


def _record(form: FormRow, ctx: FormContext) -> dict[str, Any]:
    """The request as stored: the prefecture's code and only the recipients that passed."""
    v = form.values
    pref = prefecture_of(form, ctx)
    valid: dict[str, list[str]] = {"email": [], "cc": []}
    for r in screen_recipients(v, ctx.sender):
        if r.problem is None and r.normal is not None:
            valid[r.field].append(r.normal)
    fy = v.get("fiscal_year")
    return {
        "prefecture_code": (pref[1] if pref else None) or ctx.sender.code,
        "fiscal_year": fy if fy is not None else ctx.fiscal_year,
        "dataset": v.get("dataset"),
        "department": v.get("department"),
        "contact_name": v.get("contact_name"),
        "email": valid["email"][0] if valid["email"] else v.get("email"),
        "cc": tuple(valid["cc"]),
        "phone": v.get("phone"),
        "purpose": v.get("purpose"),
        "request_date": v.get("request_date"),
        "terms_accepted": v.get("terms_accepted"),
        "source_sheet": form.sheet,
        "source_row": form.row_of("email"),
    }
