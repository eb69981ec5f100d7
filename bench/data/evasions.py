"""The evasion table: (message, expected kinds) — shared by the tests and the bench."""

EVASIONS: list[tuple[str, set[str]]] = [
    ("email me at john.smith@gmail.com", {"email"}),
    ("JOHN.SMITH@GMAIL.COM", {"email"}),
    ("john dot smith at gmail dot com", {"email"}),
    ("john(at)gmail(dot)com", {"email"}),
    ("john [at] yahoo [dot] com", {"email"}),
    ("write to jane at gmail, faster", {"email"}),
    ("john @ gmail . com", {"email"}),
    ("mail j.doe＠outlook．com", {"email"}),
    ("my email is sales{at}mystore{dot}co{dot}uk", {"email"}),
    ("jo\u200bhn@proton\u200b.me", {"email"}),
    ("call me 415-555-1234", {"phone"}),
    ("(415) 555 1234", {"phone"}),
    ("415.555.1234", {"phone"}),
    ("4155551234", {"phone"}),
    ("+44 20 7946 0958", {"phone"}),
    ("+1 (415) 555-1234 after 6", {"phone"}),
    ("four one five five five five one two three four", {"phone"}),
    ("Four-one-five, five five five, one two three four", {"phone"}),
    ("4 1 5 5 5 5 1 2 3 4", {"phone"}),
    ("4.1.5.5.5.5.1.2.3.4", {"phone"}),
    ("my number is ４１５５５５１２３４", {"phone"}),
    ("٤١٥٥٥٥١٢٣٤ on whatsapp", {"phone"}),
    ("+1 four one five 555 1234", {"phone"}),
    ("whatsapp +491701234567", {"phone"}),
    ("06 12 34 56 78", {"phone"}),
    ("zero seven nine one one, one two three four five six", {"phone"}),
    ("visit example[.]com", {"link"}),
    ("go to example dot com for the rest", {"link"}),
    ("mystore(.)net", {"link"}),
    ("https://paypal.me/johnsmith", {"link"}),
    ("hxxps://example[.]com/pay", {"link"}),
    ("www.mystore.net", {"link"}),
    ("WWW dot cheapkicks dot shop", {"link"}),
    ("bit.ly/3abcd", {"link"}),
    ("t.me/johnsmith", {"link"}),
    ("add me t.me/ john_smith", {"link"}),
    ("wa.me/14155551234", {"link"}),
    ("jsmith at mystore dot com", {"link"}),  # word "at" + own domain: flagged as its link
    ("pay at venmo.com/jsmith or call 415 555 1234", {"link", "phone"}),
]

# Messages that must NOT be flagged: the allowlist and look-alikes from ordinary chat.
CLEAN: list[str] = [
    "see https://whop.com/checkout/plan_123 to pay",
    "the listing is at https://shop.example/listings/12",
    "Price is $1,299.99 shipped",
    "order #1234567890 shipped today",
    "Tracking number 9400111899223197428490",
    "I have sizes 36 38 40 42 44",
    "models from 2019 2020 2021 2022",
    "US sizes 7 7.5 8 8.5 9 9.5 10 10.5",
    "let's meet at 5 pm at the station",
    "delivery 2024-05-12 to 2024-05-14",
    "e.g. the blue one, i.e. the large",
    "I'm at the store. Com on, it's fine",
    "dimensions 30 x 40 x 50 cm",
]

# Evasions the detector knowingly misses (documented; the bench counts them in the rate).
KNOWN_MISSES: list[tuple[str, set[str]]] = [
    ("j o h n @ g m a i l . c o m", {"email"}),
    ("four 1 five 5 five 5 one 2 three 4", {"phone"}),
]
