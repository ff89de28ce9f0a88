"""The Japanese texts of the cycle's mails (subject, body). Plain text, polite official style.

Every function returns ``(subject, body)``. Dates are written 令和 style (``令和7年11月4日（火）``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

WEEKDAYS_JA = "月火水木金土日"


def wareki(day: dt.date, *, weekday: bool = True) -> str:
    """令和7年11月4日（火）. 令和 began on 2019-05-01."""
    if day >= dt.date(2019, 5, 1):
        era, year = "令和", day.year - 2018
    else:
        era, year = "平成", day.year - 1988
    text = f"{era}{'元' if year == 1 else year}年{day.month}月{day.day}日"
    return text + (f"（{WEEKDAYS_JA[day.weekday()]}）" if weekday else "")


def fiscal_year_ja(fiscal_year: int) -> str:
    year = fiscal_year - 2018
    return f"令和{'元' if year == 1 else year}年度" if fiscal_year >= 2019 else f"平成{fiscal_year - 1988}年度"


def _footer(schedule: Any) -> str:
    return (
        "\n--\n"
        f"{schedule.sender_ja}\n"
        "※本メールは tsunagu（定例報告の情報提供）から送信しています。"
        "ご不明な点は本メールにご返信ください。\n"
    )


def _pref(code: str) -> Any:
    from tsunagu.jurisdiction import load_jurisdiction

    return load_jurisdiction().get(code)


def office_request(schedule: Any, prefecture_code: str) -> tuple[str, str]:
    pref = _pref(prefecture_code)
    fy = fiscal_year_ja(schedule.fiscal_year)
    subject = f"【依頼】{fy} 在宅療養支援診療所・病院に係る定例報告データのご提供について（{pref.office_ja}）"
    body = (
        f"{pref.office_ja} ご担当者様\n\n"
        f"いつもお世話になっております。{schedule.sender_ja}です。\n\n"
        f"{fy}におきましても、管内自治体に対する在宅療養支援診療所及び在宅療養支援病院に係る"
        "定例報告（様式11の3）の情報提供を行います。\n"
        f"つきましては、{pref.name_ja}分の定例報告を受付・集計のうえ、"
        f"{wareki(schedule.office_data_deadline)}までに、エクセルデータ又はPDFにて"
        "本メールあてにご提供くださいますよう、お願いいたします。\n\n"
        "・対象: 様式11の3 在宅療養支援診療所・在宅療養支援病院に係る報告書\n"
        "・形式: 1医療機関1行の集計表（Excel 推奨。PDF も可）\n"
        f"・期限: {wareki(schedule.office_data_deadline)}\n\n"
        "データを都県担当課へ提供する際は、あらかじめ提供データ及び提供先の担当者名等を"
        "貴事務所に共有いたします。\n"
        + _footer(schedule)
    )
    return subject, body


def prefecture_notice(schedule: Any, prefecture_code: str, *, form_attached: bool) -> tuple[str, str]:
    pref = _pref(prefecture_code)
    fy = fiscal_year_ja(schedule.fiscal_year)
    subject = f"【お知らせ】{fy} 在宅療養支援診療所・病院に係る定例報告の情報提供について（{pref.name_ja}）"
    form = ("添付の情報提供依頼書（様式）に" if form_attached else "情報提供依頼書に")
    body = (
        f"{pref.name_ja} 地域包括ケア担当課 ご担当者様\n\n"
        f"いつもお世話になっております。{schedule.sender_ja}です。\n\n"
        f"{fy}も、在宅療養支援診療所及び在宅療養支援病院から提出される定例報告（様式11の3）のデータを、"
        "整理のうえ希望する都県へ提供いたします。\n"
        f"提供を希望される場合は、{form}提供先のご担当者（所属・氏名・メールアドレス）をご記入のうえ、"
        f"{wareki(schedule.request_deadline)}までに本メールあてにご提出ください。\n\n"
        f"・提供時期: {wareki(schedule.delivery_start, weekday=False)}から"
        f"{wareki(schedule.delivery_end, weekday=False)}まで、順次電子メールにて\n"
        "・提供先: 依頼書に記載のメールアドレスのみ\n"
        "・提供データ: 貴都県分のみ（CSV・Excel、データ定義書付き）\n"
        + _footer(schedule)
    )
    return subject, body


def office_reminder(schedule: Any, prefecture_code: str, *, state: str) -> tuple[str, str]:
    """``state``: missing (nothing arrived) or rejected (only files that could not be accepted)."""
    pref = _pref(prefecture_code)
    fy = fiscal_year_ja(schedule.fiscal_year)
    subject = f"【再依頼】{fy} 定例報告データのご提供について（{pref.office_ja}）"
    if state == "rejected":
        why = ("お送りいただいたファイルは、読み取りできない又は内容に誤りがあったため受け付けられませんでした。"
               "お手数ですが、修正したデータを改めてご提供ください。\n")
    else:
        why = "現時点で当課にデータが届いておりません。\n"
    body = (
        f"{pref.office_ja} ご担当者様\n\n"
        f"{schedule.sender_ja}です。{wareki(schedule.office_data_deadline)}を期限としてお願いしておりました"
        f"{pref.name_ja}分の定例報告データについて、{why}\n"
        "都県への提供に向けて作業を進めておりますので、ご提供くださいますようお願いいたします。"
        "既にお送りいただいている場合は、行き違いにつきご容赦ください。\n"
        + _footer(schedule)
    )
    return subject, body


def request_reminder(schedule: Any, prefecture_code: str) -> tuple[str, str]:
    pref = _pref(prefecture_code)
    fy = fiscal_year_ja(schedule.fiscal_year)
    subject = f"【ご確認】{fy} 定例報告の情報提供に係る依頼書について（{pref.name_ja}）"
    body = (
        f"{pref.name_ja} 地域包括ケア担当課 ご担当者様\n\n"
        f"{schedule.sender_ja}です。定例報告の情報提供につきまして、"
        f"現時点で{pref.name_ja}からの情報提供依頼書を確認できておりません。\n"
        f"提供は{wareki(schedule.delivery_start, weekday=False)}から順次開始いたします。"
        "提供を希望される場合は、情報提供依頼書をご提出ください。"
        "希望されない場合は、本メールへのご返信は不要です。\n"
        + _footer(schedule)
    )
    return subject, body


def survey_summary(schedule: Any, prefecture_code: str, request: Any, filename: str) -> tuple[str, str]:
    pref = _pref(prefecture_code)
    fy = fiscal_year_ja(schedule.fiscal_year)
    subject = f"【送付】{fy} 地域支援事業 実施状況調査の集計結果（{pref.name_ja}）"
    body = (
        f"{request.department} {request.contact_name} 様\n\n"
        f"{schedule.sender_ja}です。ご提出いただいた{fy}の地域支援事業 実施状況調査票を集計しましたので、"
        f"集計結果（{filename}）をお送りいたします。\n"
        "事業ごとの実施状況（実施市町村数・実施率）、未実施の市町村、前年度からの変化をまとめています。\n"
        "調査票を再提出された場合は、最新の内容で集計し直してお送りします。\n"
        + _footer(schedule)
    )
    return subject, body


def _file_lines(files: dict[str, str]) -> str:
    return "".join(f"    ・{name}\n      SHA-256: {sha}\n" for name, sha in sorted(files.items()))


def _recipient_lines(request: Any) -> str:
    lines = f"    所属: {request.department}\n    氏名: {request.contact_name}\n    宛先: {request.email}\n"
    if request.cc:
        lines += f"    CC: {', '.join(request.cc)}\n"
    return lines


def pre_delivery_notice(
    schedule: Any, prefecture_code: str, release: Any, request: Any, *, correction: bool,
) -> tuple[str, str]:
    pref = _pref(prefecture_code)
    fy = fiscal_year_ja(schedule.fiscal_year)
    what = "訂正版の" if correction else ""
    subject = f"【事前共有】{fy} 定例報告データの{what}{pref.name_ja}への提供について（版 {release.version}）"
    body = (
        f"{pref.office_ja} ご担当者様\n\n"
        f"{schedule.sender_ja}です。ご提供いただいた定例報告データを整理しましたので、"
        f"{pref.name_ja}へ{'訂正版を' if correction else 'データを'}提供する前に、提供データと提供先を共有いたします。\n\n"
        f"■ 提供データ（版 {release.version}、{release.rows}医療機関）\n"
        f"{_file_lines(release.data_files)}\n"
        f"■ 提供先（{pref.name_ja}の情報提供依頼書による）\n"
        f"{_recipient_lines(request)}\n"
        "内容に誤り等がございましたら、本メールにご返信ください。"
        "特段のご連絡がない場合、当課での確認（承認）後に上記の提供先へ送付いたします。\n"
        + _footer(schedule)
    )
    return subject, body


def delivery(
    schedule: Any, prefecture_code: str, release: Any, request: Any, *, correction_summary: str | None = None,
    previous_version: str | None = None, attachments: Iterable[str] = (),
) -> tuple[str, str]:
    pref = _pref(prefecture_code)
    fy = fiscal_year_ja(schedule.fiscal_year)
    correction = correction_summary is not None
    tag = "【訂正版】" if correction else ""
    subject = f"{tag}{fy} 在宅療養支援診療所・病院に係る定例報告データの提供について（{pref.name_ja}）"
    intro = (
        f"先に提供いたしました{pref.name_ja}分の定例報告データ（版 {previous_version}）について、"
        "都県事務所から訂正データの提供がありましたので、訂正版をお送りいたします。"
        "お手数ですが、先に提供したデータに替えてご利用ください。\n"
        if correction else
        f"情報提供依頼書に基づき、{pref.name_ja}分の在宅療養支援診療所及び在宅療養支援病院に係る"
        "定例報告（様式11の3）のデータをお送りいたします。\n"
    )
    body = (
        f"{request.department} {request.contact_name} 様\n\n"
        f"いつもお世話になっております。{schedule.sender_ja}です。\n\n"
        f"{intro}\n"
        f"■ 提供データ（版 {release.version}、{release.rows}医療機関）\n"
        f"{_file_lines(release.data_files)}"
        "  CSV（UTF-8）とExcel（データ・定義書・集計）は同じ内容です。"
        "datapackage.json はデータの定義、manifest.json は各ファイルのSHA-256です。\n\n"
        + (f"{correction_summary}\n\n" if correction else "")
        + "■ ご利用にあたって\n"
        "  ・管内市区町村への提供は、適宜データを整理のうえ行ってください。\n"
        "  ・本データには貴都県分のみが含まれます。\n"
        + _footer(schedule)
    )
    return subject, body


def closing_report(schedule: Any, report_text: str) -> tuple[str, str]:
    fy = fiscal_year_ja(schedule.fiscal_year)
    subject = f"【完了報告】{fy} 定例報告の情報提供 実施状況"
    body = (
        f"{schedule.sender_ja} 各位\n\n"
        f"{fy}の定例報告の情報提供について、実施状況を報告します。\n\n"
        f"{report_text}\n"
        + _footer(schedule)
    )
    return subject, body
