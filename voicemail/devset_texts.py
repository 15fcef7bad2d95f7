"""Text, prompt and voice pools of the voicemail development set (:mod:`voicemail.devset`).

Every pool is split in two by :func:`~voicemail.devset.half`: ``dev`` cases draw from one
half, ``test`` cases from the other, so neither the sentences nor the voices of the test
split were heard while the detector was tuned. Voices are piper (joe, at two speaking rates:
the only piper voice installable here) and espeak-ng variants (Debian's ``espeak-ng-data``).
"""

from __future__ import annotations

#: Voices by language, alternating so that each split gets its own (see ``half``).
EN_VOICES = (
    "piper:1.0",
    "piper:1.25",
    "espeak:en-us",
    "espeak:en-gb+f3",
    "espeak:en-us+m4",
    "espeak:en-us+f2@150",
    "espeak:en-gb+m3",
    "espeak:en-us+f4@185",
    "espeak:en-us+klatt2",
    "espeak:en+Andy",
    "espeak:en+Annie@150",
    "espeak:en-gb-x-rp+m7",
)
RU_VOICES = (
    "espeak:ru",
    "espeak:ru+f2",
    "espeak:ru+m3@150",
    "espeak:ru+f4",
    "espeak:ru+m1",
    "espeak:ru+f1@145",
    "espeak:ru-lv",
    "espeak:ru+klatt",
    "espeak:ru+m7@180",
    "espeak:ru+f5",
)

MACHINE_TEXTS_EN = (
    "Hi, you've reached John. Leave a message and I'll call you back.",
    "Hello, you have reached the voicemail of Sarah Connor. Please leave a message after the tone.",
    "The person you are calling is not available. Please record your message after the tone.",
    "Hi, this is Mike. I can't come to the phone right now, leave your name and number.",
    "You have reached Acme Plumbing. Our office is closed. Please leave a message.",
    "Hey, it's Anna, sorry I missed you. Leave me a message and I will get back to you soon.",
    "The subscriber you have dialed is not available. Please try again later.",
    "Thank you for calling. Nobody is available to take your call, please leave a message.",
    "Hi, you've reached Tom and Lisa. We're not home, please leave a message.",
    "This is Dr. Brown's office. We are closed, please call back during office hours.",
    "Hello, I'm away from my desk. Leave your name, number and a short message.",
    "Your call has been forwarded to an automatic voice message system.",
)
SHORT_GREETINGS_EN = (
    "Leave a message.",
    "Please leave a message.",
    "It's Sam. Leave a message.",
    "You've reached Dana.",
    "Not available.",
    "Leave your message.",
)
MACHINE_TEXTS_RU = (
    "Здравствуйте, вы позвонили Ивану. Оставьте сообщение после сигнала.",
    "Абонент недоступен. Пожалуйста, оставьте сообщение после звукового сигнала.",
    "Вы позвонили в компанию Ромашка. Сейчас никто не может ответить, оставьте сообщение.",
    "Привет, это Маша. Я не могу ответить, перезвоню позже.",
)
SHORT_ANSWERS_EN = (
    "Hello?",
    "Yes?",
    "Hello, who is this?",
    "Yeah, hello?",
    "Hi.",
    "Speaking.",
    "Hello.",
    "Yes, hello?",
    "Hi there.",
    "Who's calling?",
    "Hello, yes?",
    "Yeah?",
)
SHORT_ANSWERS_RU = ("Алло?", "Да, слушаю.", "Алло, кто это?", "Да?", "Слушаю вас.", "Алло.")
INTROS_EN = (
    "Hello, this is Mark speaking.",
    "Good morning, Sarah speaking.",
    "Hello, Jennifer Adams.",
    "Hi, this is Tom, who's calling?",
    "Hello, Acme Plumbing, how can I help?",
    "Yes, hello, this is David.",
    "Hello, Smith residence.",
    "Hi, Lisa here, who is this?",
    "Hello, yes, this is Peter, who am I speaking to?",
    "Good afternoon, Johnson and Sons, Mary speaking.",
    "Hello? Yes, speaking, what is it about?",
    "Hi, this is Kate, sorry, I was driving.",
    "Hello, Dr. Brown's office, this is Emma.",
    "Yeah, hi, Robert here, what can I do for you?",
    "Hello, this is the Miller family, who is calling please?",
    "Morning, Steve speaking, go ahead.",
)
VM_PROMPTS = (
    ("vm-nobodyavail",),
    ("vm-nobodyavail", "vm-intro"),
    ("vm-theperson", "vm-isunavail", "vm-intro"),
    ("vm-intro",),
    ("vm-theperson", "vm-extension", "digits/4", "digits/2", "digits/7", "vm-isunavail"),
    ("vm-isunavail", "vm-intro"),
)
ANNOUNCEMENTS = (
    ("ss-noservice",),
    ("number-not-answering",),
    ("all-circuits-busy-now",),
    ("cannot-complete-as-dialed", "check-number-dial-again"),
    ("im-sorry", "number-not-answering"),
    ("all-circuits-busy-now", "please-try-call-later"),
)
HUMAN_PROMPTS = (("hello",), ("hello-world",), ("hello", "hello"))


SHORT_GREETINGS_RU = (
    "Оставьте сообщение.",
    "Говорите после сигнала.",
    "Это Оля. Оставьте сообщение.",
    "Оставьте ваше сообщение.",
    "Я перезвоню.",
    "Сообщение после сигнала.",
)
#: Personal voicemail greetings in Russian (several sentences, recorded by the owner).
PERSONAL_GREETINGS_RU = (
    "Здравствуйте, вы позвонили Ивану. Оставьте сообщение после сигнала.",
    "Привет, это Оля. Перезвоню.",
    "Добрый день, это Сергей. Сейчас не могу ответить, оставьте сообщение.",
    "Привет, это Маша. Я занята, перезвоню позже.",
    "Вы позвонили Петру Смирнову. Меня нет на месте. Оставьте сообщение.",
    "Здравствуйте, это автоответчик Анны. Говорите после сигнала.",
    "Алексей сейчас недоступен. Оставьте, пожалуйста, сообщение.",
    "Привет, это Дима, я перезвоню, как только смогу.",
)
#: Machine greetings read as separate sentences with natural pauses between them (none opens
#: with a bare "Hello." and a pause: that is what a person says, and nothing tells them apart).
PAUSED_GREETINGS = {
    "en": (
        ("Hi, this is Laura.", "I'm not available right now.", "Please leave a message."),
        ("Hello, you've reached the Parker family.", "Leave us a message after the tone."),
        ("Hey, it's Ben.", "Sorry I missed your call.", "I'll get back to you."),
        ("Thank you for calling Green Dental.", "Our office is closed.", "Please call back."),
        ("Hi, it's Chris.", "Leave a message and I'll call you back."),
        ("Hello, this is Nina.", "I can't take your call.", "Leave your name and number."),
    ),
    "ru": (
        ("Здравствуйте, вы позвонили Елене.", "Оставьте сообщение после сигнала."),
        ("Привет, это Костя.", "Не могу ответить.", "Перезвоню позже."),
        ("Добрый день, это компания Вектор.", "Оставьте ваше сообщение."),
        ("Алло, это Катя.", "Меня сейчас нет.", "Оставьте сообщение."),
    ),
}
#: People who introduce themselves at length (over 3-4 s) on picking up.
LONG_INTROS_EN = (
    "Good afternoon, Johnson residence, how can I help you?",
    "Hello, this is Margaret Thompson speaking, who am I talking to, please?",
    "Good morning, thank you for calling Riverside Garage, this is Paul, how can I help?",
    "Hi, yes, this is Daniel, I'm just in the car at the moment, who is calling?",
    "Hello, Anderson and Partners, Rebecca speaking, how may I help you today?",
    "Good evening, you're speaking to Carol, what can I do for you?",
    "Hello, this is the front desk of the Grand Hotel, how can I help you?",
    "Yes, hello, Michael Brown speaking, sorry, who is this please?",
)
INTROS_RU = (
    "Алло, да, Иван Петров слушает, чем могу помочь?",
    "Добрый день, компания Ромашка, Ольга, слушаю вас.",
    "Здравствуйте, это Сергей, а кто звонит?",
    "Да, алло, слушаю вас внимательно.",
    "Алло, здравствуйте, кто это?",
    "Добрый вечер, Наталья слушает.",
)
