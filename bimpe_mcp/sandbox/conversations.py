"""Scripted conversations: what an agent and the other party say on a call, one script per scenario.

A script alternates agent and caller, agent first, and ends the way its call ends (`end_reason`). Slots in braces
are filled once per call (transcripts.py), so a name, a day or a price stays the same from turn to turn. A long
script repeats its `loop` (an agent turn and a caller turn, `{n}` counting up and `{item}` walking `ITEMS`) at
`loop_at`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["normal", "short", "long"]


@dataclass(frozen=True)
class Scenario:
    name: str
    domain: str
    inbound: bool
    kind: Kind
    end_reason: str
    lines: tuple[str, ...]
    loop: tuple[str, str] | None = None
    loop_at: int = 0
    # (index of a caller turn, attachment type, file name): the turn that carries an attachment.
    attachment: tuple[int, str, str] | None = None


# Each domain's opening on an inbound call; the short scripts shared by every domain open with it.
GREETINGS: dict[str, str] = {
    "dental": "Good morning, thank you for calling {biz}, this is {agent}. How can I help you today?",
    "logistics": "Harbor Freight sales, {agent} speaking. How can I help you today?",
    "coffee": "Kilimanjaro Coffee orders, this is {agent}. Are you ordering today?",
    "insurance": "Accra Home Insurance claims, {agent} speaking. How can I help?",
    "tutoring": "BrightPath Tutors, {agent} here. Are you looking for a tutor?",
    "riad": "Riad Yasmine, good evening, {agent} speaking.",
}
CALLING = "Hello, this is {agent} calling from {biz}. Am I speaking with {name}?"

# What a long script walks through, one entry per loop.
ITEMS: tuple[str, ...] = (
    "forty cartons of floor tiles",
    "twelve crates of tinned tomatoes",
    "six pallets of cement",
    "thirty bales of fabric",
    "eight drums of palm oil",
    "twenty cartons of school books",
    "four generators",
    "fifteen rolls of roofing sheets",
)


def _s(
    name: str,
    domain: str,
    inbound: bool,
    end_reason: str,
    *lines: str,
    kind: Kind = "normal",
    attachment: tuple[int, str, str] | None = None,
) -> Scenario:
    return Scenario(name, domain, inbound, kind, end_reason, lines, attachment=attachment)


_DENTAL: tuple[Scenario, ...] = (
    _s(
        "booking",
        "dental",
        True,
        "completed",
        "{greet}",
        "Hi, I'd like to book a check-up and cleaning, please.",
        "Of course. Can I have your full name, please?",
        "It's {name} {surname}.",
        "Thank you, {name}. Have you visited us before?",
        "Yes, I came in last year for a filling.",
        "Welcome back. Which day suits you best?",
        "{day} would be good, any time.",
        "I have {day} at {time} with Dr. Bello. Shall I book it?",
        "Yes, please book that.",
        "Done. A check-up with cleaning is {amount} naira, and we accept card and transfer.",
        "That's fine. Should I bring anything?",
        "Just arrive ten minutes early so we can update your records. Your reference is {ref}.",
        "Great, thank you so much.",
        "You're welcome, {name}. You'll get a text reminder the day before. Have a lovely day!",
        "You too, bye.",
    ),
    _s(
        "refund",
        "dental",
        True,
        "completed",
        "{greet}",
        "Hello, I was charged twice for my cleaning last {day}, and I'd like a refund for the second payment.",
        "I'm sorry about that. Can I have your full name, please?",
        "{name} {surname}.",
        "Thank you, {name}. I can see two card payments of {amount} naira last {day}. Do you have the receipt?",
        "Yes, I've just sent the receipt to your WhatsApp.",
        "Got it, thank you. The second payment is a duplicate, so I've raised a refund of {amount} naira.",
        "How long will the refund take?",
        "It reaches your card within five working days. Your refund reference is {ref}.",
        "Okay. Will I get a confirmation?",
        "Yes, an email confirmation goes out today. Is there anything else I can help with?",
        "No, that's all. Thank you.",
        "Thank you for your patience, {name}. Goodbye!",
        "Bye.",
        attachment=(5, "document", "receipt.pdf"),
    ),
    _s(
        "reschedule",
        "dental",
        True,
        "completed",
        "{greet}",
        "Hello, I need to move my appointment on {day}. Something came up at work.",
        "No problem. Can I have your full name, please?",
        "{name} {surname}.",
        "Thank you, {name}. I can see you on {day} at {time}. When would suit you better?",
        "Is {day2} possible, in the afternoon?",
        "Yes, I have {day2} at {time2}. Shall I move it?",
        "Yes, please.",
        "Done: your appointment is now {day2} at {time2}, and {day} is free again.",
        "Perfect. Thank you.",
        "You'll get a text reminder the day before. Anything else?",
        "No, that's everything.",
        "Have a lovely day, {name}. Goodbye!",
        "Bye.",
    ),
    _s(
        "escalation",
        "dental",
        True,
        "transferred",
        "{greet}",
        "Good morning. I have a terrible toothache, and my face has been swollen since last night.",
        "I'm sorry to hear that. Do you have a fever, or any trouble swallowing or breathing?",
        "A bit of fever, yes. The pain is really bad.",
        "Swelling with a fever needs a dentist today, so I'll put you through to the dentist on call.",
        "Okay, please hurry.",
        "Before I do: can I have your full name, so the dentist knows who is calling?",
        "{name} {surname}.",
        "Thank you, {name}. Stay on the line, I'm transferring you to Dr. Bello now.",
        "Thank you.",
    ),
    _s(
        "language_switch",
        "dental",
        True,
        "completed",
        "{greet}",
        "Good morning. Abeg, I fit talk Pidgin? My English no too strong.",
        "No wahala, we fit talk Pidgin. Wetin you need?",
        "I wan book appointment make doctor check my teeth. E dey pain me small.",
        "Sorry o. Wetin be your name?",
        "My name na {name} {surname}.",
        "Thank you, {name}. Which day go good for you?",
        "{day} go good.",
        "I get space {day} for {time} with Dr. Bello. Make I book am?",
        "Yes, book am abeg.",
        "E don set. Your reference na {ref}. Come ten minutes before time.",
        "Thank you well well.",
        "You're welcome. Have a lovely day!",
        "Bye bye.",
    ),
    _s(
        "price_question",
        "dental",
        True,
        "completed",
        "{greet}",
        "Hi, how much do you charge for teeth whitening?",
        "Whitening starts at {amount} naira and takes about an hour.",
        "Do you offer payment plans?",
        "Yes, you can pay in three monthly instalments at no extra charge.",
        "Okay. Do I need a check-up first?",
        "Yes, we check your teeth first, on the same visit if you like.",
        "Then I'd like to book, please. {day} if possible.",
        "I have {day} at {time}. Can I have your full name?",
        "{name} {surname}.",
        "You're booked, {name}. Your reference is {ref}.",
        "Thank you. That's all.",
        "Goodbye, have a lovely day!",
        "Bye.",
    ),
    _s(
        "reminder",
        "dental",
        False,
        "completed",
        CALLING,
        "Yes, speaking. Is this about my appointment?",
        "Yes. I'm calling to confirm your appointment on {day} at {time} with Dr. Bello.",
        "Good that you called. Can we make it a bit later that day?",
        "I have {time2} free on {day}. Would that suit you?",
        "Yes, {time2} is better.",
        "Done: {day} at {time2}. Please arrive ten minutes early.",
        "Will do. Do I need to bring anything?",
        "Just your card, or the receipt if you pay by transfer.",
        "Alright, thank you.",
        "Thank you, {name}. See you on {day}. Goodbye!",
        "Bye.",
    ),
    _s(
        "refund_follow_up",
        "dental",
        False,
        "completed",
        CALLING,
        "Yes, that's me.",
        "I'm calling about the double payment you reported. The refund of {amount} naira went to your card today.",
        "Oh, thank you. When will I see it?",
        "Within five working days. The refund reference is {ref}.",
        "Got it. Thanks for letting me know.",
        "You're welcome. Is there anything else I can help with?",
        "No, that's all.",
        "Have a lovely day, {name}. Goodbye!",
        "Bye.",
    ),
    Scenario(
        "school_check_ups",
        "dental",
        True,
        "long",
        "completed",
        (
            "{greet}",
            "Hello, I'm the nurse at Lekki Primary School. We'd like check-ups for a whole class, one after another.",
            "Happy to help. I'll read back each pupil with a slot; say yes or give another time.",
            "Perfect, go ahead.",
            "That's every pupil booked. The group reference is {ref}.",
            "Thank you for your patience.",
            "Thank you for choosing {biz}. Goodbye!",
            "Goodbye.",
        ),
        loop=("Pupil {n}: slot {n} on {day}. Does that work?", "Yes, slot {n} works."),
        loop_at=4,
    ),
)

_LOGISTICS: tuple[Scenario, ...] = (
    _s(
        "quote_request",
        "logistics",
        True,
        "completed",
        "{greet}",
        "Hi, I need a quote to ship a forty-foot container from Lagos to Accra.",
        "Certainly. What are you shipping, and roughly how heavy is it?",
        "Furniture, about eighteen tonnes.",
        "Thank you. When would it be ready to leave?",
        "By {day}.",
        "Door to door, the price is {amount} naira, customs clearance included.",
        "That's a bit above what I expected. Is there a discount for regular shipments?",
        "Yes: from the third container in a quarter we take ten percent off.",
        "Okay, send me the quote in writing and I'll confirm.",
        "I'll email it today. Can I have your name and email?",
        "{name} {surname}, {email}.",
        "Thank you, {name}. Your quote reference is {ref}.",
        "Thanks, bye.",
    ),
    _s(
        "lead_follow_up",
        "logistics",
        False,
        "completed",
        CALLING,
        "Yes, that's me.",
        "You asked for a freight quote on our website. Do you have a minute to go through it?",
        "Sure, go ahead.",
        "Is it still one container from Lagos to Accra?",
        "Two now, actually. Business is picking up.",
        "Great. For two containers door to door, the price is {amount} naira each, customs included.",
        "And how long does it take?",
        "Five to seven days by road, tracked the whole way.",
        "That sounds good. Can you book the first one for {day}?",
        "Booked for {day}. The booking reference is {ref}, and I'll email the paperwork today.",
        "Perfect, thank you.",
        "Thank you, {name}. Goodbye!",
        "Bye.",
    ),
    _s(
        "not_interested",
        "logistics",
        False,
        "customer_hangup",
        CALLING,
        "Yes. What is it about?",
        "We ship across West Africa, and I'd like to offer you a free quote.",
        "We already have a shipper, thanks. Please don't call again.",
        "Understood, I'll take you off our list. Have a good day.",
        "Bye.",
        kind="short",
    ),
    _s(
        "language_switch",
        "logistics",
        False,
        "completed",
        CALLING,
        "Oui, c'est moi. Pardon, je parle mieux français.",
        "Pas de problème, parlons français. Vous avez demandé un devis pour Cotonou ?",
        "Oui, pour un conteneur de vingt pieds, à partir de {jour}.",
        "Le prix porte à porte est de {amount} nairas, dédouanement compris.",
        "D'accord. Vous pouvez réserver ?",
        "C'est réservé pour {jour}. Votre référence est {ref}.",
        "Merci beaucoup.",
        "Merci à vous, {name}. Au revoir !",
        "Au revoir.",
    ),
    _s(
        "escalation",
        "logistics",
        True,
        "transferred",
        "{greet}",
        "Hello, my shipment {ref} has been stuck at the border for a week and nobody tells me anything.",
        "I'm sorry about that. I can see it is held for a customs inspection.",
        "A week! I have customers waiting. I want to speak to a manager.",
        "I understand. Your account manager can speak to customs directly; I'll transfer you.",
        "Fine.",
        "Can I have your name for the account manager?",
        "{name} {surname}.",
        "Thank you, {name}. Please hold, I'm putting you through now.",
        "Okay.",
    ),
    Scenario(
        "manifest_check",
        "logistics",
        True,
        "long",
        "completed",
        (
            "{greet}",
            "Hello, I need to confirm every line of the manifest for our shipment to Accra before it leaves.",
            "Of course. I'll read each line; tell me if anything is wrong.",
            "Go ahead.",
            "That's the whole manifest. The shipment reference is {ref}.",
            "Great, it all matches.",
            "Thank you, {name}. Goodbye!",
            "Bye.",
        ),
        loop=("Line {n}: {item}. Is that right?", "Yes, line {n} is right."),
        loop_at=4,
    ),
)

_OTHERS: tuple[Scenario, ...] = (
    _s(
        "order",
        "coffee",
        True,
        "completed",
        "{greet}",
        "Yes, I need to reorder beans for the cafe.",
        "Which roast would you like?",
        "The medium roast, the Arusha one.",
        "Whole bean or ground?",
        "Whole bean, please. Six one-kilo bags.",
        "That's {amount} shillings in total. Same delivery address as last time?",
        "Yes, same address.",
        "Delivery is {day} morning. Your order reference is {ref}.",
        "Thank you!",
        "Thank you for your order. Goodbye!",
        "Bye.",
    ),
    _s(
        "weekly_order",
        "coffee",
        False,
        "completed",
        CALLING,
        "Yes, speaking.",
        "I'm calling to confirm your weekly order: six bags of the Arusha roast, whole bean.",
        "Make it eight this week, please. We're busy.",
        "Eight bags, that's {amount} shillings. Delivery on {day} as usual?",
        "Yes, {day} is fine.",
        "Done. The order reference is {ref}.",
        "Thanks.",
        "Thank you, {name}. Have a good week. Goodbye!",
        "Bye.",
    ),
    _s(
        "claim",
        "insurance",
        True,
        "completed",
        "{greet}",
        "I need to report water damage in my kitchen.",
        "I'm sorry to hear that. Can I have your policy number?",
        "It's {ref}.",
        "Thank you. When did the damage happen?",
        "Last {day}, during the storm.",
        "Is the property still safe to live in?",
        "Yes, it's just the kitchen.",
        "Your policy covers water damage up to {amount} cedis. An assessor can visit on {day2} at {time}.",
        "That works.",
        "I've opened the claim; you'll get an email confirmation shortly. Anything else?",
        "No, thank you.",
        "Take care, {name}. Goodbye.",
        "Bye.",
    ),
    _s(
        "claim_follow_up",
        "insurance",
        False,
        "completed",
        CALLING,
        "Yes, speaking. Any news on the claim?",
        "Yes: the assessor's report is in, and the repair is covered up to {amount} cedis.",
        "That's a relief. What do I do next?",
        "Send us the builder's quote, and we pay the builder directly.",
        "I'll send it on {day}.",
        "Perfect. Your claim reference stays {ref}.",
        "Thank you.",
        "You're welcome, {name}. Goodbye.",
        "Bye.",
    ),
    _s(
        "tutor_enquiry",
        "tutoring",
        True,
        "completed",
        "{greet}",
        "Yes, my daughter needs help with GCSE maths.",
        "Which year is she in?",
        "Year ten.",
        "Would she prefer lessons online or at home?",
        "Online is easier for us.",
        "Lessons are {amount} pounds an hour. I can book a trial on {day} at {time} with Ms. Patel.",
        "Yes, please book it.",
        "Booked. Your reference is {ref}.",
        "Thank you.",
        "Thanks, {name}. Goodbye!",
        "Bye.",
    ),
    _s(
        "trial_lesson",
        "tutoring",
        False,
        "completed",
        CALLING,
        "Yes, hello.",
        "I'm calling about the trial chemistry lesson you asked for.",
        "Oh yes. When can it be?",
        "I can book {day} at {time} with Mr. Osei, online.",
        "That works for us.",
        "Booked. The reference is {ref}, and the link comes by email.",
        "Thank you.",
        "Thanks, {name}. Bye for now!",
        "Bye.",
    ),
    _s(
        "room_booking",
        "riad",
        True,
        "completed",
        "{greet}",
        "Hi, I'd like to book a room for three nights.",
        "With pleasure. From which day?",
        "From {day}, for two adults.",
        "The courtyard room is {amount} dirhams a night with breakfast. Shall I book it?",
        "Yes, please. Can you also arrange an airport pick-up?",
        "Of course. What time does your flight land?",
        "Around {time}.",
        "Our driver will wait with a sign. Your booking reference is {ref}.",
        "Wonderful, thank you.",
        "See you soon, {name}. Goodbye!",
        "Goodbye.",
    ),
    _s(
        "reservation_check",
        "riad",
        False,
        "completed",
        CALLING,
        "Yes, is everything okay with the booking?",
        "Everything is fine. I'm calling to confirm your arrival on {day}.",
        "Yes, we land around {time}.",
        "Our driver will meet you at arrivals with a sign.",
        "Perfect, thank you.",
        "Would you like dinner at the riad on your first evening?",
        "Yes, that would be lovely.",
        "Booked. Your booking reference is {ref}. Safe travels, {name}. Goodbye!",
        "Goodbye.",
    ),
)

# The short calls every agent has, inbound and outbound.
_SHORT: tuple[tuple[str, bool, str, tuple[str, ...]], ...] = (
    (
        "wrong_number",
        True,
        "customer_hangup",
        (
            "{greet}",
            "Oh, sorry, I was trying to reach a pharmacy. Wrong number.",
            "No problem. Have a good day!",
            "Bye.",
        ),
    ),
    (
        "bad_line",
        True,
        "customer_hangup",
        (
            "{greet}",
            "Hello? Hello, can you hear me?",
            "Yes, I can hear you. How can I help?",
            "Sorry, the line is very bad. I'll call back later.",
        ),
    ),
    (
        "wrong_number",
        False,
        "customer_hangup",
        (
            CALLING,
            "No, there's no {name} here. You have the wrong number.",
            "I'm sorry for the trouble. I'll correct our records. Goodbye.",
            "Okay, bye.",
        ),
    ),
    (
        "voicemail",
        False,
        "agent_hangup",
        (
            CALLING,
            "You've reached {name}. I can't take your call, please leave a message after the tone.",
            "Hi {name}, this is {agent} from {biz}. Please call us back when it suits you. Thank you, goodbye.",
        ),
    ),
)

SCENARIOS: tuple[Scenario, ...] = (
    *_DENTAL,
    *_LOGISTICS,
    *_OTHERS,
    *(
        Scenario(name, domain, inbound, "short", reason, lines)
        for domain in GREETINGS
        for name, inbound, reason, lines in _SHORT
    ),
)


def _index() -> dict[tuple[str, bool, Kind], tuple[int, ...]]:
    out: dict[tuple[str, bool, Kind], list[int]] = {}
    for i, s in enumerate(SCENARIOS):
        out.setdefault((s.domain, s.inbound, s.kind), []).append(i)
    return {key: tuple(found) for key, found in out.items()}


# Scenario indexes by (domain, inbound, kind).
BY_KIND = _index()


def scenario_named(domain: str, name: str, inbound: bool) -> int:
    return next(i for i, s in enumerate(SCENARIOS) if (s.domain, s.name, s.inbound) == (domain, name, inbound))


def pick(domain: str, inbound: bool, kind: Kind, roll: float) -> int:
    """A scenario of the domain for a call, by a roll in [0, 1); a kind the domain lacks falls back to normal."""
    choices = BY_KIND.get((domain, inbound, kind)) or BY_KIND[(domain, inbound, "normal")]
    return choices[int(roll * len(choices))]
