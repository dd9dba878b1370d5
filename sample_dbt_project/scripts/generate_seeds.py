#!/usr/bin/env python3
"""Generate the Acme Analytics seed CSVs (deterministic, standard library only).

Usage (from anywhere):
    python sample_dbt_project/scripts/generate_seeds.py [--out DIR]

The same inputs always produce byte-identical files: a fixed random seed and a
fixed "as of" date (no clock). Picklist labels and CSM emails match the objects
the dbt-gainsight emulator ships with (docs/emulator-objects.md).
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import random
import re
from pathlib import Path

SEED = 20250630
AS_OF = dt.date(2025, 6, 30)  # the data's "today"
USAGE_FIRST_MONTH = dt.date(2024, 1, 1)
USAGE_LAST_MONTH = dt.date(2025, 6, 1)
N_ACCOUNTS = 210
MIN_CONTACTS = 1000

# --- Gainsight emulator contract -------------------------------------------------
INDUSTRIES = [
    "Software",
    "Healthcare",
    "Financial Services",
    "Retail",
    "Manufacturing",
    "Education",
    "Media",
    "Telecommunications",
]
STAGES = [
    "New Customer",
    "Kicked Off",
    "Launched",
    "Adopting",
    "Expanding",
    "Renewing",
    "Will Churn",
    "Churned",
]
STATUSES = ["Active", "Inactive", "Churned"]
CSM_EMAILS = [
    "ava.patel@example.com",
    "ben.okafor@example.com",
    "chloe.martin@example.com",
    "diego.alvarez@example.com",
    "emma.johansson@example.com",
]
RELATIONSHIP_TYPES = ["Product Line", "Subsidiary", "Business Unit"]

# --- vocabulary --------------------------------------------------------------------
NAME_PREFIXES = [
    "Acme",
    "Apex",
    "Aurora",
    "Beacon",
    "Birch",
    "Bluefin",
    "Boulder",
    "Brightwater",
    "Cascade",
    "Cedar",
    "Cobalt",
    "Copper",
    "Crescent",
    "Crimson",
    "Delta",
    "Driftwood",
    "Ember",
    "Evergreen",
    "Falcon",
    "Fathom",
    "Foxglove",
    "Granite",
    "Harbor",
    "Helix",
    "Horizon",
    "Indigo",
    "Ironwood",
    "Juniper",
    "Keystone",
    "Lakeshore",
    "Lantern",
    "Lumen",
    "Maple",
    "Meridian",
    "Monarch",
    "Northwind",
    "Oakridge",
    "Onyx",
    "Orchard",
    "Pinnacle",
    "Polaris",
    "Prairie",
    "Quarry",
    "Redwood",
    "Ridgeline",
    "Sable",
    "Sequoia",
    "Silverline",
    "Summit",
    "Tandem",
    "Terrace",
    "Tidewater",
    "Timber",
    "Trillium",
    "Vantage",
    "Vertex",
    "Willow",
    "Zenith",
]
INDUSTRY_SUFFIXES = {
    "Software": ["Software", "Labs", "Systems", "Technologies", "Cloud"],
    "Healthcare": ["Health", "Medical", "Care", "Clinics", "Biosciences"],
    "Financial Services": ["Capital", "Financial", "Bank", "Insurance", "Partners"],
    "Retail": ["Outfitters", "Market", "Goods", "Stores", "Apparel"],
    "Manufacturing": ["Industries", "Manufacturing", "Works", "Fabrication", "Components"],
    "Education": ["Learning", "Academy", "Education", "Schools", "Institute"],
    "Media": ["Media", "Studios", "Publishing", "Broadcasting", "Entertainment"],
    "Telecommunications": ["Telecom", "Networks", "Wireless", "Communications", "Broadband"],
}
INDUSTRY_WEIGHTS = [30, 14, 14, 10, 10, 8, 7, 7]

FIRST_NAMES = [
    "Aaliyah",
    "Aaron",
    "Adaeze",
    "Aiden",
    "Amara",
    "Andre",
    "Anika",
    "Arjun",
    "Beatriz",
    "Caleb",
    "Camila",
    "Chen",
    "Daniel",
    "Dara",
    "Elena",
    "Elijah",
    "Farah",
    "Felix",
    "Gabriel",
    "Grace",
    "Hana",
    "Hassan",
    "Isabel",
    "Ivan",
    "Jada",
    "James",
    "Jin",
    "Julia",
    "Kai",
    "Keisha",
    "Kenji",
    "Laila",
    "Leo",
    "Lucia",
    "Malik",
    "Maria",
    "Mateo",
    "Maya",
    "Mohammed",
    "Nadia",
    "Naomi",
    "Nikhil",
    "Noah",
    "Olivia",
    "Omar",
    "Priya",
    "Rafael",
    "Rosa",
    "Ryan",
    "Samira",
    "Santiago",
    "Sofia",
    "Tariq",
    "Thea",
    "Tomas",
    "Valentina",
    "Wei",
    "Yara",
    "Yusuf",
    "Zoe",
]
LAST_NAMES = [
    "Adams",
    "Afolabi",
    "Bakker",
    "Banerjee",
    "Brooks",
    "Castillo",
    "Chen",
    "Costa",
    "Dubois",
    "Edwards",
    "Eriksen",
    "Fernandez",
    "Fischer",
    "Garcia",
    "Gupta",
    "Hansen",
    "Haddad",
    "Ito",
    "Jensen",
    "Kim",
    "Kowalski",
    "Larsen",
    "Lee",
    "Lopez",
    "Mbeki",
    "Moreau",
    "Muller",
    "Nakamura",
    "Nguyen",
    "Novak",
    "Okonkwo",
    "Olsen",
    "Park",
    "Patel",
    "Petrov",
    "Quinn",
    "Ramos",
    "Reyes",
    "Rossi",
    "Sato",
    "Schmidt",
    "Silva",
    "Singh",
    "Sorensen",
    "Tanaka",
    "Torres",
    "Turner",
    "Varga",
    "Wagner",
    "Walsh",
    "Wang",
    "Weber",
    "Williams",
    "Xu",
    "Yamamoto",
    "Young",
    "Zhang",
]
ROLES = {  # role -> (weight, titles)
    "Executive Sponsor": (
        10,
        ["VP of Data", "Chief Data Officer", "CTO", "VP of Operations", "Chief Operating Officer"],
    ),
    "Champion": (
        15,
        [
            "Director of Analytics",
            "Head of BI",
            "Analytics Manager",
            "Director of Data Engineering",
        ],
    ),
    "Admin": (
        15,
        ["BI Administrator", "Data Platform Admin", "Systems Administrator", "IT Manager"],
    ),
    "End User": (
        50,
        [
            "Data Analyst",
            "Analytics Engineer",
            "Business Analyst",
            "Financial Analyst",
            "Marketing Analyst",
            "Operations Analyst",
        ],
    ),
    "Billing Contact": (10, ["Procurement Manager", "Finance Manager", "Controller"]),
}
RELATIONSHIP_TITLES = [
    "Product Owner",
    "Technical Admin",
    "Power User",
    "Budget Owner",
    "Implementation Lead",
]

PRODUCTS = [  # product_id, name, family, list price per seat per year
    (1, "Analytics Cloud", "Core Platform", 600),
    (2, "Data Pipelines", "Core Platform", 450),
    (3, "Embedded BI", "Add-on", 300),
    (4, "Governance Suite", "Add-on", 250),
    (5, "Predictive Insights", "Add-on", 400),
    (6, "Reporting Studio", "Add-on", 200),
]
UNIT_NAMES = {
    "Subsidiary": ["EMEA", "APAC", "LATAM", "Canada"],
    "Business Unit": ["Marketing", "Finance", "Operations", "Sales"],
}


# --- helpers -------------------------------------------------------------------------
def month_start(d: dt.date) -> dt.date:
    """The first day of d's month."""
    return d.replace(day=1)


def add_months(d: dt.date, n: int) -> dt.date:
    """The date n calendar months after d, the day clamped to the month's length."""
    y, m = divmod(d.month - 1 + n, 12)
    year, month = d.year + y, m + 1
    day = min(
        d.day,
        [
            31,
            29 if year % 4 == 0 and (year % 100 or year % 400 == 0) else 28,
            31,
            30,
            31,
            30,
            31,
            31,
            30,
            31,
            30,
            31,
        ][month - 1],
    )
    return dt.date(year, month, day)


def month_end(d: dt.date) -> dt.date:
    """The last day of d's month."""
    return add_months(month_start(d), 1) - dt.timedelta(days=1)


def next_anniversary(start: dt.date, after: dt.date) -> dt.date:
    """The first yearly anniversary of start that falls after `after` (a renewal date)."""
    years = max(1, after.year - start.year)
    d = add_months(start, 12 * years)
    while d <= after:
        years += 1
        d = add_months(start, 12 * years)
    return d


def rand_date(rng: random.Random, lo: dt.date, hi: dt.date) -> dt.date:
    """A uniform date in [lo, hi]."""
    return lo + dt.timedelta(days=rng.randint(0, (hi - lo).days))


def slug(s: str) -> str:
    """Lower-case letters and digits only (for e-mail addresses and domains)."""
    return re.sub(r"[^a-z0-9]", "", s.lower())


def write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    """Write rows as a dbt seed: empty for null, true/false for booleans."""

    def fmt(v):
        if v is None:
            return ""
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, dt.datetime):
            return v.strftime("%Y-%m-%d %H:%M:%S")
        if isinstance(v, dt.date):
            return v.isoformat()
        if isinstance(v, float):
            return f"{v:.2f}"
        return str(v)

    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        for r in rows:
            w.writerow([fmt(v) for v in r])


# --- generation ----------------------------------------------------------------------
def generate(out: Path) -> dict[str, int]:
    """Write every seed CSV into out; returns the row count per seed."""
    rng = random.Random(SEED)
    out.mkdir(parents=True, exist_ok=True)

    # accounts ---------------------------------------------------------------------
    accounts = []
    used_names: set[str] = set()
    for i in range(N_ACCOUNTS):
        account_id = 1001 + i
        industry = rng.choices(INDUSTRIES, INDUSTRY_WEIGHTS)[0]
        while True:
            name = f"{rng.choice(NAME_PREFIXES)} {rng.choice(INDUSTRY_SUFFIXES[industry])}"
            if name not in used_names:
                break
        used_names.add(name)
        employees = int(round(rng.lognormvariate(6.3, 1.2)))
        employees = max(15, min(employees, 45000))
        start = rand_date(rng, dt.date(2019, 1, 1), dt.date(2025, 6, 10))
        tenure_days = (AS_OF - start).days
        roll = rng.random()
        churn_date = None
        if roll < 0.08 and start < dt.date(2024, 1, 1):
            stage, status = "Churned", "Churned"
            churn_date = next_anniversary(
                start, rand_date(rng, dt.date(2024, 2, 1), dt.date(2025, 3, 31))
            )
            churn_date = min(churn_date, dt.date(2025, 5, 31))
            renewal = churn_date
        else:
            renewal = next_anniversary(start, AS_OF)
            if roll < 0.13:
                stage, status = "Will Churn", "Active"
            elif roll < 0.17:
                stage, status = "Adopting", "Inactive"
            elif tenure_days < 60:
                stage, status = "New Customer", "Active"
            elif tenure_days < 120:
                stage, status = "Kicked Off", "Active"
            elif tenure_days < 240:
                stage, status = "Launched", "Active"
            elif (renewal - AS_OF).days <= 90 and rng.random() < 0.6:
                stage, status = "Renewing", "Active"
            elif rng.random() < 0.35:
                stage, status = "Expanding", "Active"
            else:
                stage, status = "Adopting", "Active"
        accounts.append(
            dict(
                account_id=account_id,
                account_name=name,
                industry=industry,
                lifecycle_stage=stage,
                account_status=status,
                employees=employees,
                csm_email=CSM_EMAILS[rng.randrange(len(CSM_EMAILS))],
                contract_start_date=start,
                renewal_date=renewal,
                churn_date=churn_date,
                domain=slug(name) + ".com",
            )
        )
    assert len({a["domain"] for a in accounts}) == len(accounts)

    # subscriptions (one per relationship) --------------------------------------------
    subscriptions = []
    sub_id = 5001
    for a in accounts:
        n = rng.choices([1, 2, 3], [45, 35, 20])[0]
        products = [PRODUCTS[0] if rng.random() < 0.7 else PRODUCTS[1]]
        products += rng.sample([p for p in PRODUCTS if p is not products[0]], n - 1)
        seats_base = max(5, int(a["employees"] * rng.uniform(0.02, 0.12)))
        units_left = {k: list(v) for k, v in UNIT_NAMES.items()}
        for idx, (pid, pname, _fam, price) in enumerate(products):
            rtype = "Product Line"
            rel_name = f"{a['account_name']} - {pname}"
            if idx > 0 and rng.random() < 0.25:
                rtype = rng.choice(["Subsidiary", "Business Unit"])
                unit = units_left[rtype].pop(rng.randrange(len(units_left[rtype])))
                rel_name = f"{a['account_name']} {unit} - {pname}"
            seats = max(3, int(seats_base * (1.0 if idx == 0 else rng.uniform(0.2, 0.6))))
            arr = round(seats * price * rng.uniform(0.75, 1.0) / 100) * 100.0
            lo = a["contract_start_date"]
            hi = max(lo, min(AS_OF - dt.timedelta(days=30), a["churn_date"] or AS_OF))
            sstart = lo if idx == 0 else rand_date(rng, lo, hi)
            if a["account_status"] == "Churned":
                sstatus, srenew = "Churned", a["churn_date"]
            elif a["account_status"] == "Inactive":
                sstatus, srenew = "Inactive", next_anniversary(sstart, AS_OF)
            else:
                sstatus = "Churned" if idx > 0 and rng.random() < 0.06 else "Active"
                srenew = next_anniversary(
                    sstart, AS_OF if sstatus == "Active" else sstart + dt.timedelta(days=200)
                )
            subscriptions.append(
                dict(
                    subscription_id=sub_id,
                    account_id=a["account_id"],
                    product_id=pid,
                    relationship_name=rel_name,
                    relationship_type=rtype,
                    seats=seats,
                    arr=arr,
                    start_date=sstart,
                    renewal_date=srenew,
                    subscription_status=sstatus,
                )
            )
            sub_id += 1
    assert len({s["relationship_name"] for s in subscriptions}) == len(subscriptions)
    for a in accounts:
        a["arr"] = sum(
            s["arr"]
            for s in subscriptions
            if s["account_id"] == a["account_id"] and s["subscription_status"] != "Churned"
        )

    # contacts -------------------------------------------------------------------------
    contacts = []
    emails: set[str] = set()
    role_names = list(ROLES)
    role_weights = [ROLES[r][0] for r in role_names]

    def add_contact(a, role=None):
        while True:
            first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
            email = f"{first}.{last}@{a['domain']}".lower()
            if email not in emails:
                break
        emails.add(email)
        role = role or rng.choices(role_names, role_weights)[0]
        contacts.append(
            dict(
                contact_id=len(contacts) + 70001,
                account_id=a["account_id"],
                first_name=first,
                last_name=last,
                email=email,
                title=rng.choice(ROLES[role][1]),
                role=role,
                is_primary=rng.random() >= 0.08,
                opted_out=rng.random() < 0.05,
            )
        )

    for a in accounts:
        n = 3 + min(4, int(a["employees"] ** 0.25 * rng.uniform(0.3, 0.8)))
        add_contact(a, "Executive Sponsor")
        add_contact(a, "Champion")
        for _ in range(n - 2):
            add_contact(a)
    while len(contacts) < MIN_CONTACTS + 50:
        add_contact(rng.choice(accounts))
    contacts.sort(key=lambda c: (c["account_id"], c["contact_id"]))
    for i, c in enumerate(contacts):
        c["contact_id"] = 70001 + i

    # relationship contacts ------------------------------------------------------------
    by_account: dict[int, list[dict]] = {}
    for c in contacts:
        by_account.setdefault(c["account_id"], []).append(c)
    rel_contacts = []
    for s in subscriptions:
        k = rng.choices([0, 1, 2], [20, 55, 25])[0]
        for c in rng.sample(by_account[s["account_id"]], k):
            rel_contacts.append(
                dict(
                    subscription_id=s["subscription_id"],
                    contact_id=c["contact_id"],
                    relationship_title=rng.choice(RELATIONSHIP_TITLES),
                )
            )

    # monthly usage --------------------------------------------------------------------
    usage = []
    for a in accounts:
        seats = (
            sum(
                s["seats"]
                for s in subscriptions
                if s["account_id"] == a["account_id"] and s["subscription_status"] != "Churned"
            )
            or 10
        )
        first = max(USAGE_FIRST_MONTH, month_start(a["contract_start_date"]))
        if a["account_status"] == "Churned":
            last = month_start(a["churn_date"])
        elif a["account_status"] == "Inactive":
            last = add_months(USAGE_LAST_MONTH, -rng.randint(1, 4))
        else:
            last = USAGE_LAST_MONTH
        health = {"Will Churn": 0.35, "Churned": 0.3, "Expanding": 0.85, "Adopting": 0.7}.get(
            a["lifecycle_stage"], 0.6
        )
        m, i = first, 0
        while m <= last:
            ramp = min(
                1.0,
                0.3
                + 0.12
                * (
                    (m.year - a["contract_start_date"].year) * 12
                    + m.month
                    - a["contract_start_date"].month
                    + 1
                ),
            )
            decline = 1.0
            if a["lifecycle_stage"] in ("Will Churn", "Churned"):
                months_to_end = (last.year - m.year) * 12 + last.month - m.month
                decline = max(0.25, min(1.0, 0.4 + 0.1 * months_to_end))
            active = max(1, int(seats * health * ramp * decline * rng.uniform(0.8, 1.1)))
            active = min(active, seats)
            logins = int(active * rng.uniform(6, 22))
            adoption = round(
                min(100.0, max(0.0, 100 * health * ramp * decline * rng.uniform(0.75, 1.15))), 1
            )
            end = min(month_end(m), AS_OF)
            last_active = dt.datetime.combine(
                end - dt.timedelta(days=rng.randint(0, 3)),
                dt.time(rng.randint(7, 21), rng.randint(0, 59), rng.randint(0, 59)),
            )
            usage.append(
                dict(
                    account_id=a["account_id"],
                    usage_month=m,
                    active_users=active,
                    logins=logins,
                    feature_adoption_pct=adoption,
                    last_active_at=last_active,
                )
            )
            m, i = add_months(m, 1), i + 1

    # write ----------------------------------------------------------------------------
    write_csv(
        out / "raw_accounts.csv",
        [
            "account_id",
            "account_name",
            "industry",
            "lifecycle_stage",
            "account_status",
            "arr",
            "employees",
            "csm_email",
            "contract_start_date",
            "renewal_date",
        ],
        [
            [
                a["account_id"],
                a["account_name"],
                a["industry"],
                a["lifecycle_stage"],
                a["account_status"],
                a["arr"],
                a["employees"],
                a["csm_email"],
                a["contract_start_date"],
                a["renewal_date"],
            ]
            for a in accounts
        ],
    )
    write_csv(
        out / "raw_contacts.csv",
        [
            "contact_id",
            "account_id",
            "first_name",
            "last_name",
            "email",
            "title",
            "role",
            "is_primary",
            "opted_out",
        ],
        [
            [
                c["contact_id"],
                c["account_id"],
                c["first_name"],
                c["last_name"],
                c["email"],
                c["title"],
                c["role"],
                c["is_primary"],
                c["opted_out"],
            ]
            for c in contacts
        ],
    )
    write_csv(
        out / "raw_products.csv",
        ["product_id", "product_name", "product_family", "list_price_per_seat"],
        [list(p) for p in PRODUCTS],
    )
    write_csv(
        out / "raw_subscriptions.csv",
        [
            "subscription_id",
            "account_id",
            "product_id",
            "relationship_name",
            "relationship_type",
            "seats",
            "arr",
            "start_date",
            "renewal_date",
            "subscription_status",
        ],
        [
            [
                s["subscription_id"],
                s["account_id"],
                s["product_id"],
                s["relationship_name"],
                s["relationship_type"],
                s["seats"],
                s["arr"],
                s["start_date"],
                s["renewal_date"],
                s["subscription_status"],
            ]
            for s in subscriptions
        ],
    )
    write_csv(
        out / "raw_relationship_contacts.csv",
        ["subscription_id", "contact_id", "relationship_title"],
        [[r["subscription_id"], r["contact_id"], r["relationship_title"]] for r in rel_contacts],
    )
    write_csv(
        out / "raw_usage_monthly.csv",
        [
            "account_id",
            "usage_month",
            "active_users",
            "logins",
            "feature_adoption_pct",
            "last_active_at",
        ],
        [
            [
                u["account_id"],
                u["usage_month"],
                u["active_users"],
                u["logins"],
                f"{u['feature_adoption_pct']:.1f}",
                u["last_active_at"],
            ]
            for u in usage
        ],
    )
    return {
        "raw_accounts": len(accounts),
        "raw_contacts": len(contacts),
        "raw_products": len(PRODUCTS),
        "raw_subscriptions": len(subscriptions),
        "raw_relationship_contacts": len(rel_contacts),
        "raw_usage_monthly": len(usage),
    }


def main() -> None:
    """Command line: --out DIR (default: the project's seeds/)."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "seeds")
    args = p.parse_args()
    for name, n in generate(args.out).items():
        print(f"{name}: {n} rows")


if __name__ == "__main__":
    main()
