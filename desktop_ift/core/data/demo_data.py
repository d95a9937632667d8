"""The demo dataset: synthetic customer-support tickets that we generate ourselves (no text copied from anywhere).

Each message is assembled from phrase pieces (greeting, an issue with product/order details, an optional
remark, a closing), so rows differ, while the category stays learnable from content words: billing talks
about charges and invoices, shipping about parcels and tracking, technical about errors and firmware,
account about logins and passwords, returns about sending items back.

``python -m desktop_ift.core.data.demo_data`` (re)writes ``resources/demo/support_tickets.csv``.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

from desktop_ift.core.paths import resources_dir

CATEGORIES = ("billing", "shipping", "technical", "account", "returns")
COLUMNS = ("ticket_id", "message", "category", "summary")
DEMO_CSV: Path = resources_dir() / "demo" / "support_tickets.csv"

DEMO_TEMPLATE: dict = {
    "name": "Classify support tickets",
    "system": "You are a support triage assistant.",
    "prompt": "Classify this customer message into one of: billing, shipping, technical, account, returns.\n\n"
              "Message: {{ message }}",
    "response": "{{ category }}",
}
DEMO_SUMMARY_TEMPLATE: dict = {
    "name": "Summarise support tickets",
    "system": "You are a support triage assistant.",
    "prompt": "Summarise this customer message in one line.\n\nMessage: {{ message }}",
    "response": "{{ summary }}",
}

_GREETINGS = ("Hi,", "Hello,", "Hello team,", "Good morning,", "Good afternoon,", "Hey,", "Dear support,",
              "Hi there,", "", "", "")
_CLOSINGS = ("Thanks.", "Thank you!", "Thanks in advance.", "Please help.", "Can you look into it?",
             "Any help is appreciated.", "Regards, {name}.", "Cheers, {name}.", "Thanks, {name}.", "", "")
_REMARKS = ("This is quite urgent.", "I'm really frustrated.", "No rush, just letting you know.",
            "This is the second time I'm writing.", "I've been a customer for {years} years.",
            "I hope this can be sorted quickly.", "", "", "", "", "")
_PRODUCTS = ("Aurora desk lamp", "Breeze tower fan", "Cascade water filter", "Nimbus headphones",
             "Orbit robot vacuum", "Pebble smart speaker", "Summit hiking boots", "Tandem bike lock",
             "Vela yoga mat", "Willow tea kettle", "Zephyr air purifier", "Juniper backpack")
_NAMES = ("Amara", "Bruno", "Chen", "Dana", "Elif", "Farid", "Greta", "Hugo", "Ines", "Jonas", "Keiko", "Luca",
          "Maya", "Nils", "Oren", "Priya", "Quinn", "Rosa", "Sami", "Tove")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
_COUNTRIES = ("Norway", "Portugal", "Canada", "Japan", "Ireland", "Chile", "Kenya", "Austria")

# (message, summary) per category; {slots} are filled per row.
_ISSUES: dict[str, tuple[tuple[str, str], ...]] = {
    "billing": (
        ("I was charged twice for order {order}. Please refund the duplicate charge of {amount}.",
         "Charged twice for order {order}; wants the duplicate charge of {amount} refunded."),
        ("My invoice for {month} shows {amount}, but my plan should cost less. Can you correct the bill?",
         "Disputes the {month} invoice amount of {amount}."),
        ("My card payment of {amount} failed, yet the money was taken from my bank account.",
         "Card payment of {amount} failed but the bank account was debited."),
        ("I cancelled my subscription in {month} but was still billed {amount} this month.",
         "Billed {amount} after cancelling the subscription in {month}."),
        ("Could you send me a VAT invoice for order {order}? I need it for my company expenses.",
         "Requests a VAT invoice for order {order}."),
        ("There is an unknown charge of {amount} on my credit card statement from your shop.",
         "Reports an unrecognised card charge of {amount}."),
        ("The discount code was not applied at checkout, so I paid {amount} too much.",
         "Overpaid {amount} because a discount code was not applied."),
        ("How do I update the credit card used for my monthly payments?",
         "Asks how to change the card used for monthly payments."),
    ),
    "shipping": (
        ("My parcel for order {order} has not arrived yet. Tracking has said in transit for {days} days.",
         "Parcel for order {order} stuck in transit for {days} days."),
        ("The tracking number for order {order} does not work on the courier website.",
         "Tracking number for order {order} not recognised by the courier."),
        ("The courier marked my package as delivered, but nothing was left at my door.",
         "Package marked as delivered but never received."),
        ("Can I change the delivery address for order {order}? It has not shipped yet.",
         "Wants to change the delivery address of order {order} before it ships."),
        ("My {product} was supposed to be delivered by {day}. When will the delivery arrive?",
         "Asks when the late delivery of the {product} will arrive."),
        ("Only one box of order {order} was delivered; the second parcel is missing.",
         "Second parcel of order {order} missing from the delivery."),
        ("Do you ship to {country}, and how long does express delivery take?",
         "Asks about express delivery times to {country}."),
        ("The delivery driver left my parcel with a neighbour I do not know. Where is it?",
         "Parcel was left with an unknown neighbour."),
    ),
    "technical": (
        ("My {product} will not turn on since the latest firmware update.",
         "{product} does not power on after a firmware update."),
        ("The app crashes every time I try to pair my {product} over Bluetooth.",
         "App crashes when pairing the {product} over Bluetooth."),
        ("I get error code {code} when I connect the {product} to my wifi network.",
         "{product} shows error {code} when connecting to wifi."),
        ("The battery of my {product} drains in {hours} hours even when it is switched off.",
         "{product} battery drains in {hours} hours while switched off."),
        ("The {product} makes a loud grinding noise and then stops working.",
         "{product} makes a grinding noise and stops working."),
        ("After the software update the touch buttons on my {product} no longer respond.",
         "Touch buttons on the {product} unresponsive after a software update."),
        ("The {product} keeps disconnecting from the app every few minutes. I already reset it twice.",
         "{product} keeps disconnecting from the app despite resets."),
        ("The display on my {product} flickers and shows strange lines after the update.",
         "{product} display flickers and shows lines after an update."),
    ),
    "account": (
        ("I can't log in to my account; the password reset email never arrives.",
         "Cannot log in; the password reset email does not arrive."),
        ("Please change the email address on my account to {email}.",
         "Wants the account email address changed to {email}."),
        ("My account was locked after too many login attempts. How do I unlock it?",
         "Account locked after too many login attempts."),
        ("I lost my phone and can't get the two-factor code to sign in to my account.",
         "Lost the phone used for two-factor sign-in."),
        ("Please delete my account and all personal data you hold about me.",
         "Requests deletion of the account and personal data."),
        ("Someone changed the password on my account without my permission.",
         "Reports an unauthorised password change on the account."),
        ("How do I merge my two accounts? I signed up twice with different email addresses.",
         "Wants to merge two accounts made with different emails."),
        ("I want to change the username on my profile, but the account settings page won't save it.",
         "Username change in the account settings does not save."),
    ),
    "returns": (
        ("I'd like to return the {product} from order {order}; it is the wrong size.",
         "Wants to return the wrong-size {product} from order {order}."),
        ("How do I get a return label for the {product}? I want to send it back.",
         "Requests a return label for the {product}."),
        ("Can I exchange the {product} for a different colour instead of returning it?",
         "Wants to exchange the {product} for another colour."),
        ("I sent the {product} back {days} days ago. When will my return be processed?",
         "Asks about the status of the returned {product}."),
        ("The {product} is broken out of the box and I want to return it for a replacement.",
         "Wants to return a broken {product} for a replacement."),
        ("Is it too late to return a gift I received {days} days ago?",
         "Asks whether a gift received {days} days ago can still be returned."),
        ("I changed my mind about the {product}. It is unopened; can I return it?",
         "Wants to return an unopened {product}."),
        ("The drop-off point refused my return. How else can I send the {product} back?",
         "Drop-off point refused the return of the {product}; needs another way to send it back."),
    ),
}


def generate_demo_rows(n: int = 400, seed: int = 7) -> list[dict]:
    """``n`` synthetic support tickets (the same ones for the same ``n`` and ``seed``).

    Columns: ``ticket_id`` (``T-1001`` ...), ``message`` (10-40 words), ``category`` (one of
    :data:`CATEGORIES`, as evenly spread as ``n`` allows) and ``summary`` (one line).
    """
    rng = random.Random(seed)
    categories = [CATEGORIES[i % len(CATEGORIES)] for i in range(n)]
    rng.shuffle(categories)
    rows = []
    for i, category in enumerate(categories):
        message_text, summary_text = rng.choice(_ISSUES[category])
        slots = _slots(rng)
        issue = message_text.format(**slots)
        parts = [rng.choice(_GREETINGS), issue, rng.choice(_REMARKS).format(**slots),
                 rng.choice(_CLOSINGS).format(**slots)]
        for optional in (2, 3):  # keep messages short: drop the remark, then the closing
            if len(" ".join(parts).split()) > 40:
                parts[optional] = ""
        message = " ".join(p for p in parts if p)
        while len(message.split()) < 10:
            message = f"{message} {rng.choice(('Thanks.', 'Please help.', 'Can you look into it?'))}"
        rows.append({
            "ticket_id": f"T-{1001 + i}",
            "message": message,
            "category": category,
            "summary": summary_text.format(**slots),
        })
    return rows


def _slots(rng: random.Random) -> dict:
    name = rng.choice(_NAMES)
    return {
        "name": name,
        "order": f"#{rng.randint(10000, 99999)}",
        "amount": f"${rng.randint(5, 240)}.{rng.choice(('00', '49', '95', '99'))}",
        "month": rng.choice(_MONTHS),
        "day": rng.choice(_DAYS),
        "days": rng.randint(3, 21),
        "hours": rng.randint(2, 12),
        "product": rng.choice(_PRODUCTS),
        "code": f"E-{rng.randint(100, 999)}",
        "email": f"{name.lower()}.{rng.randint(10, 99)}@example.com",
        "country": rng.choice(_COUNTRIES),
        "years": rng.randint(2, 12),
    }


def write_demo_csv(path: Path | str = DEMO_CSV, n: int = 400, seed: int = 7) -> Path:
    """Write :func:`generate_demo_rows` to ``path`` as UTF-8 CSV with a header row; returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        writer.writerows(generate_demo_rows(n, seed))
    return path


if __name__ == "__main__":
    print(f"Wrote {write_demo_csv()}")
