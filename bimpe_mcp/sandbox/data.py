"""Static seed material: agents, phone numbers, number plans and phrase banks for transcripts."""

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
        name="Amara - Lekki Smile Dental",
        description="Front-desk voice agent: books, moves and confirms dental appointments.",
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
        name="Tobi - Harbor Freight Support",
        description="Answers shipment tracking and delivery rescheduling questions.",
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
        channels=(ChannelSeed("whatsapp", "WhatsApp support line", "active", True),),
        knowledge_bases=(("text", "Delivery policy", None),),
        integrations=(),
        age_days=95,
    ),
    AgentSeed(
        role="paused",
        team=TEAM_MAIN,
        name="Zainab - Kilimanjaro Coffee Orders",
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
        name="Kofi - Accra Home Insurance",
        description="Explains home insurance cover and opens claims.",
        language="en",
        persona="professional",
        timezone="Africa/Accra",
        business_name="Accra Home Insurance",
        business_address="Ring Road Central 8, Accra",
        business_email="claims@accrahome.example",
        business_description="Home and contents insurance for Ghanaian households.",
        status="live",
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
        name="Grace - BrightPath Tutors",
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
        name="Leila - Riad Yasmine Reservations",
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

END_REASONS_ENDED: tuple[tuple[str, int], ...] = (
    ("completed", 60),
    ("customer_hangup", 25),
    ("agent_hangup", 10),
    ("transferred", 5),
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
DAYS: tuple[str, ...] = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "tomorrow", "next week")
TIMES: tuple[str, ...] = (
    "9 a.m.",
    "9:30",
    "ten o'clock",
    "half past eleven",
    "noon",
    "2 p.m.",
    "3:15",
    "4:45",
    "5 p.m.",
)

GENERIC_ACKS: tuple[str, ...] = (
    "Okay.",
    "Alright, got it.",
    "Mm-hmm.",
    "Sure, no problem.",
    "Perfect, thank you.",
    "Okay, one moment please.",
    "I understand.",
)
GENERIC_USER_FILLERS: tuple[str, ...] = (
    "Sorry, the line is a bit noisy, could you repeat that?",
    "Uh, let me check... yes, that's right.",
    "Hold on, let me get a pen.",
    "Yes, yes, go ahead.",
    "Hmm, I'm not sure. What would you recommend?",
    "Okay, that works for me.",
    "Can you say the last part again?",
)

# Phrase banks per domain. Slots: {name} {agent} {biz} {day} {time} {amount} {ref}
DOMAINS: dict[str, dict[str, tuple[str, ...]]] = {
    "dental": {
        "greet_in": ("Good morning, thank you for calling {biz}, this is {agent}. How can I help you today?",),
        "greet_out": ("Hello, this is {agent} calling from {biz}. Am I speaking with {name}?",),
        "intent": (
            "Hi, I'd like to book a check-up and cleaning, please.",
            "Hello, I need to move my appointment on {day}.",
            "Good morning. I have a toothache and I was hoping to see someone soon.",
            "Hi, how much do you charge for whitening?",
        ),
        "reply_out": (
            "Yes, speaking. Is this about my appointment?",
            "Yes, this is {name}. What's it about?",
        ),
        "probe": (
            "Of course. Can I have your full name, please?",
            "Have you visited us before, or is this your first time?",
            "Which day suits you best?",
            "Would you prefer a morning or an afternoon slot?",
            "Is the pain constant, or only when you eat something cold?",
            "Could you confirm the phone number we should send the reminder to?",
        ),
        "answer": (
            "It's {name}, {name} Okafor.",
            "I came in last year for a filling.",
            "{day} would be best, around {time} if possible.",
            "Mornings are easier for me.",
            "Mostly when I drink something cold, and it's been about three days.",
            "Yes, the same number I'm calling from.",
        ),
        "info": (
            "We have a slot on {day} at {time} with Dr. Bello. Shall I book it?",
            "A check-up with cleaning is {amount} naira, and we accept card and transfer.",
            "Whitening starts at {amount} naira and takes about an hour.",
            "Please arrive ten minutes early so we can update your records.",
            "I've moved your appointment to {day} at {time}.",
        ),
        "close": (
            "You're all set. Your reference is {ref}. Is there anything else I can help with?",
            "Great, you'll get a text reminder the day before. Have a lovely day!",
        ),
    },
    "logistics": {
        "greet_in": ("Harbor Freight support, {agent} speaking. Do you have a tracking number?",),
        "greet_out": ("Good afternoon, this is {agent} from {biz}, calling about a delivery for {name}.",),
        "intent": (
            "Yes, my parcel was supposed to arrive {day} and it hasn't come.",
            "I want to change the delivery address for my shipment.",
            "Hello, I'm calling to check when my container clears customs.",
        ),
        "reply_out": ("Oh good, I was waiting for that. When is it coming?", "Yes, that's me."),
        "probe": (
            "Could you read me the tracking number, please?",
            "What address should we deliver to instead?",
            "Will someone be available to sign for it?",
            "Is the phone number on the order still correct?",
        ),
        "answer": (
            "It's {ref}.",
            "The office on Adeola Odeku Street, Victoria Island.",
            "Yes, the receptionist will be there until {time}.",
            "Yes, that's the right number.",
        ),
        "info": (
            "I can see it left the Apapa hub this morning. It should reach you {day} before {time}.",
            "Customs released the container yesterday; the handling fee is {amount} naira.",
            "I've updated the address. The driver will call thirty minutes before arrival.",
        ),
        "close": (
            "Thanks for your patience. Anything else I can check for you?",
            "Alright, goodbye and have a nice day.",
        ),
    },
    "coffee": {
        "greet_in": ("Kilimanjaro Coffee, this is {agent}. Are you ordering today?",),
        "greet_out": ("Hi, {agent} from {biz}. Calling to confirm your weekly order, {name}.",),
        "intent": ("Yes, I need to reorder beans for the cafe.", "I want to add two bags to this week's order."),
        "reply_out": ("Yes, go ahead.", "Oh right, yes, same as usual please."),
        "probe": (
            "Which roast would you like?",
            "Whole bean or ground?",
            "How many one-kilo bags?",
            "Same delivery address as last time?",
        ),
        "answer": (
            "The medium roast, the Arusha one.",
            "Whole bean, please.",
            "Six bags this time.",
            "Yes, same address, deliver before {time} if you can.",
        ),
        "info": (
            "That's {amount} shillings in total.",
            "Delivery is {day} morning.",
            "The Arusha roast is back in stock.",
        ),
        "close": ("Order confirmed, reference {ref}. Thank you!", "Done. Have a good day."),
    },
    "insurance": {
        "greet_in": ("Accra Home Insurance, {agent} speaking. How can I help?",),
        "greet_out": ("Hello {name}, this is {agent} from {biz} following up on your claim.",),
        "intent": ("I need to report water damage in my kitchen.", "I'd like to know what my policy covers."),
        "reply_out": ("Yes, thank you for calling back.", "Yes, speaking. Any news on the claim?"),
        "probe": (
            "Can I have your policy number?",
            "When did the damage happen?",
            "Do you have photos of the damage?",
            "Is the property still safe to live in?",
        ),
        "answer": (
            "It's {ref}.",
            "Last {day}, during the storm.",
            "Yes, I can send them now.",
            "Yes, it's just the kitchen.",
        ),
        "info": (
            "Your policy covers water damage up to {amount} cedis.",
            "An assessor can visit on {day} at {time}.",
            "I've opened the claim; you'll get an email confirmation shortly.",
        ),
        "close": ("Your claim reference is {ref}. Anything else?", "Take care, goodbye."),
    },
    "tutoring": {
        "greet_in": ("BrightPath Tutors, {agent} here. Are you looking for a tutor?",),
        "greet_out": ("Hi {name}, it's {agent} from {biz} about the trial lesson.",),
        "intent": ("Yes, my daughter needs help with GCSE maths.", "I want to book a trial chemistry lesson."),
        "reply_out": ("Oh yes, hello.", "Yes, we were expecting your call."),
        "probe": ("Which year is your child in?", "Online or at home?", "Which evenings are free?"),
        "answer": ("Year ten.", "Online is easier for us.", "{day} evenings after {time}."),
        "info": ("Lessons are {amount} pounds an hour.", "I can book a trial on {day} at {time} with Ms. Patel."),
        "close": ("Booked, reference {ref}. Bye for now!", "Thanks, goodbye."),
    },
    "riad": {
        "greet_in": ("Riad Yasmine, good evening, {agent} speaking.",),
        "greet_out": ("Hello {name}, this is {agent} from {biz} about your reservation.",),
        "intent": ("Hi, I'd like to book a room for three nights.", "Can you arrange an airport pick-up?"),
        "reply_out": ("Yes, hello!", "Yes, is everything okay with the booking?"),
        "probe": ("What dates are you travelling?", "How many guests?", "What time does your flight land?"),
        "answer": ("From {day}, three nights.", "Two adults.", "Around {time}."),
        "info": ("The courtyard room is {amount} dirhams a night with breakfast.", "Our driver will wait with a sign."),
        "close": ("Your booking reference is {ref}. See you soon!", "Goodbye, safe travels."),
    },
}

ATTACHMENT_KINDS: tuple[tuple[str, str, str], ...] = (
    ("image", "photo.jpg", "I've just sent you a photo."),
    ("document", "invoice.pdf", "Here's the invoice as a PDF."),
    ("audio", "voicemail.mp3", "I forwarded the voicemail recording."),
)
