"""Static seed material: agents, phone numbers, number plans, and the names and times transcripts are filled with
(the conversations themselves are in conversations.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ChannelSeed:
    type: str
    name: str
    status: str
    is_connected: bool


@dataclass(frozen=True)
class AgentSeed:
    role: str
    team: str
    name: str
    description: str
    language: str
    persona: str | None
    timezone: str
    business_name: str
    business_address: str
    business_email: str
    business_description: str
    status: str
    status_reason: str | None
    escalation_email: str | None
    domain: str
    channels: tuple[ChannelSeed, ...]
    knowledge_bases: tuple[tuple[str, str, str | None], ...]
    integrations: tuple[tuple[str, str, bool], ...]
    age_days: int
    logo: str | None = None


TEAM_MAIN = "team_main"
TEAM_OTHER = "team_other"

AGENT_SEEDS: tuple[AgentSeed, ...] = (
    AgentSeed(
        role="live",
        team=TEAM_MAIN,
        name="Amara - Patient Support, Lekki Smile Dental",
        description="Support line: books and moves appointments, answers prices and refunds, puts emergencies through.",
        language="en",
        persona="friendly",
        timezone="Africa/Lagos",
        business_name="Lekki Smile Dental Clinic",
        business_address="14 Admiralty Way, Lekki Phase 1, Lagos",
        business_email="frontdesk@lekkismile.example",
        business_description="A family dental clinic offering check-ups, cleaning, whitening and braces.",
        status="live",
        status_reason=None,
        escalation_email="manager@lekkismile.example",
        domain="dental",
        channels=(
            ChannelSeed("webchat", "Website chat", "active", True),
            ChannelSeed("whatsapp", "WhatsApp +234 901 555 0199", "active", True),
        ),
        knowledge_bases=(
            ("text", "Price list 2026", "Treatment prices and payment plans"),
            ("url", "Clinic FAQ", None),
        ),
        integrations=(("google_calendar", "Google Calendar", True),),
        age_days=210,
        logo="https://cdn.sandbox.bimpe.local/logos/lekki-smile.png",
    ),
    AgentSeed(
        role="no_channel",
        team=TEAM_MAIN,
        name="Tobi - Sales, Harbor Freight",
        description="Sales line: calls back leads for freight quotes and books their first shipment.",
        language="en",
        persona="professional",
        timezone="Africa/Lagos",
        business_name="Harbor Freight Logistics",
        business_address="Plot 5, Apapa Wharf Road, Lagos",
        business_email="support@harborfreight.example",
        business_description="Freight forwarding and last-mile delivery across West Africa.",
        status="development",
        status_reason=None,
        escalation_email=None,
        domain="logistics",
        channels=(ChannelSeed("whatsapp", "WhatsApp sales line", "active", True),),
        knowledge_bases=(("text", "Delivery policy", None),),
        integrations=(),
        age_days=95,
    ),
    AgentSeed(
        role="paused",
        team=TEAM_MAIN,
        name="Zainab - Wholesale Orders, Kilimanjaro Coffee",
        description="Takes wholesale coffee orders and delivery slots by phone.",
        language="en",
        persona="concise",
        timezone="Africa/Nairobi",
        business_name="Kilimanjaro Coffee Roasters",
        business_address="Ngong Road 221, Nairobi",
        business_email="orders@kilicoffee.example",
        business_description="Roasts and ships specialty coffee to cafes and offices.",
        status="paused",
        status_reason="Paused while the spring price list is updated",
        escalation_email="ops@kilicoffee.example",
        domain="coffee",
        channels=(ChannelSeed("instagram", "@kilicoffee", "inactive", False),),
        knowledge_bases=(("url", "Wholesale catalogue", "Current roasts and bag sizes"),),
        integrations=(("paystack", "Paystack", True),),
        age_days=160,
    ),
    AgentSeed(
        role="insurance",
        team=TEAM_MAIN,
        name="Kofi - Claims, Accra Home Insurance",
        description="Opens home insurance claims and follows them up.",
        language="en",
        persona="professional",
        timezone="Africa/Accra",
        business_name="Accra Home Insurance",
        business_address="Ring Road Central 8, Accra",
        business_email="claims@accrahome.example",
        business_description="Home and contents insurance for Ghanaian households.",
        status="development",
        status_reason=None,
        escalation_email="claims-lead@accrahome.example",
        domain="insurance",
        channels=(ChannelSeed("messenger", "Accra Home Insurance page", "active", True),),
        knowledge_bases=(),
        integrations=(),
        age_days=60,
    ),
    AgentSeed(
        role="tutoring",
        team=TEAM_MAIN,
        name="Grace - Tutor Matching, BrightPath Tutors",
        description="Matches parents with tutors and schedules trial lessons.",
        language="en",
        persona=None,
        timezone="Europe/London",
        business_name="BrightPath Tutors",
        business_address="22 Camden High Street, London",
        business_email="hello@brightpath.example",
        business_description="One-to-one maths and science tutoring, online and at home.",
        status="development",
        status_reason=None,
        escalation_email=None,
        domain="tutoring",
        channels=(),
        knowledge_bases=(),
        integrations=(),
        age_days=12,
    ),
    AgentSeed(
        role="other_team",
        team=TEAM_OTHER,
        name="Leila - Reservations, Riad Yasmine",
        description="Takes room reservations and airport pick-up requests.",
        language="en",
        persona="friendly",
        timezone="Africa/Casablanca",
        business_name="Riad Yasmine",
        business_address="Derb Sidi Bouloukat 9, Marrakech",
        business_email="stay@riadyasmine.example",
        business_description="A seven-room guesthouse in the Marrakech medina.",
        status="live",
        status_reason=None,
        escalation_email="owner@riadyasmine.example",
        domain="riad",
        channels=(ChannelSeed("webchat", "Booking chat", "active", True),),
        knowledge_bases=(("text", "Room rates", None),),
        integrations=(),
        age_days=300,
    ),
)


@dataclass(frozen=True)
class PhoneNumberSeed:
    e164: str
    label: str | None
    agent_role: str | None
    team: str
    inbound_enabled: bool
    age_days: int


PHONE_NUMBER_SEEDS: tuple[PhoneNumberSeed, ...] = (
    PhoneNumberSeed("+2342017004415", "Lagos front desk", "live", TEAM_MAIN, True, 200),
    PhoneNumberSeed("+254709831520", "Nairobi orders", "paused", TEAM_MAIN, True, 150),
    PhoneNumberSeed("+14155238871", "US outbound", None, TEAM_MAIN, False, 40),
    PhoneNumberSeed("+442038087120", None, None, TEAM_MAIN, True, 8),
    PhoneNumberSeed("+212524389911", "Riad reception", "other_team", TEAM_OTHER, True, 280),
)

# Calls each non-live agent gets (scaled down when the configured total is small).
OTHER_AGENT_CALLS: tuple[tuple[str, int, float], ...] = (
    # role, calls, share of test calls
    ("paused", 25, 0.3),
    ("no_channel", 15, 1.0),
    ("other_team", 20, 0.2),
)
LIVE_TEST_SHARE = 0.25
SEED_SPAN_DAYS = 28

# (country calling code, weight, list of (national prefix, digits after prefix))
NUMBER_PLANS: tuple[tuple[str, int, tuple[tuple[str, int], ...]], ...] = (
    ("234", 34, (("803", 7), ("806", 7), ("813", 7), ("816", 7), ("703", 7), ("705", 7), ("809", 7), ("902", 7))),
    ("1", 14, (("415", 7), ("212", 7), ("646", 7), ("312", 7), ("713", 7), ("416", 7), ("604", 7))),
    ("44", 12, (("7700", 6), ("7911", 6), ("7402", 6), ("20", 8), ("161", 7))),
    ("254", 10, (("712", 6), ("722", 6), ("733", 6), ("110", 6))),
    ("233", 8, (("24", 7), ("20", 7), ("55", 7))),
    ("27", 6, (("82", 7), ("83", 7), ("72", 7))),
    ("49", 5, (("151", 8), ("160", 7), ("30", 8))),
    ("91", 5, (("98", 8), ("99", 8), ("70", 8))),
    ("33", 3, (("6", 8), ("7", 8))),
    ("212", 3, (("661", 6), ("524", 6))),
)

FAILED_REASONS: tuple[str, ...] = (
    "destination_unreachable",
    "invalid_number",
    "carrier_rejected",
    "network_error",
    "no_answer",
)
CANCELLED_REASONS: tuple[str, ...] = ("caller_cancelled", "cancelled_by_user")

FIRST_NAMES: tuple[str, ...] = (
    "Chinedu",
    "Ngozi",
    "Emeka",
    "Funmi",
    "Tunde",
    "Aisha",
    "Ibrahim",
    "Kemi",
    "Segun",
    "Adaeze",
    "Wanjiru",
    "Otieno",
    "Akosua",
    "Kwame",
    "Thandiwe",
    "Sipho",
    "Priya",
    "Rahul",
    "Sarah",
    "James",
    "Emily",
    "Daniel",
    "Sophie",
    "Lukas",
    "Hannah",
    "Youssef",
    "Fatima",
    "Claire",
    "Mohammed",
    "Grace",
)
SURNAMES: tuple[str, ...] = (
    "Okafor",
    "Adeyemi",
    "Mensah",
    "Kamau",
    "Bello",
    "Osei",
    "Nwosu",
    "Diallo",
    "Mwangi",
    "Smith",
    "Haddad",
    "Balogun",
)
# Weekdays, and the same days in French for the callers who switch to it.
DAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
JOURS: tuple[str, ...] = ("lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi")
TIMES: tuple[str, ...] = ("9 a.m.", "9:30 a.m.", "10 a.m.", "11:30 a.m.", "noon")
LATER_TIMES: tuple[str, ...] = ("2 p.m.", "3:15 p.m.", "4 p.m.", "4:45 p.m.", "5 p.m.")
