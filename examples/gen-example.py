#!/usr/bin/env python3
"""Regenerates the bundled example data in chatbot/data (deterministic).
Usage: python3 examples/gen-example.py"""
import json, os, random

random.seed(7)
here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "chatbot", "data")
os.makedirs(here, exist_ok=True)

first = ["Ana", "Ben", "Chloé", "Dmitri", "Eva", "Farid", "Grace", "Hiro", "Inès", "Jonas",
         "Kemi", "Luís", "Maja", "Noah", "Olga", "Pedro", "Quinn", "Rosa", "Sven", "Tariq"]
last = ["Almeida", "Berg", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Hansen", "Ito",
        "Jensen", "Kowalski", "López", "Müller", "Nowak", "Okafor", "Petrov", "Rossi", "Šimek"]
companies = ["Acme, Inc.", "Blue Harbor Ltd", "Cobalt & Sons", "Delta Logistics", "Evergreen GmbH",
             "Fjord Analytics", "Granite \"Solid\" Works", "Helios Solar", "Iris Health", ""]
channels = ["web", "whatsapp", "messenger"]
openers = ["Hi, I'd like to know more about your pricing", "Hello! Do you integrate with Salesforce?",
           "Can I book a demo?", "Is there a free trial?", "My invoice looks wrong",
           "Do you support SSO?", "How do I export my data?", "hey"]
bot_lines = ["Happy to help! Could you tell me a bit about your team?",
             "Sure. Our plans start at 49 EUR per month.",
             "Yes, we have a native Salesforce and HubSpot integration.",
             "I can set that up. What's the best email to reach you?",
             "Let me connect you with a colleague."]
follow = ["We are about 40 people in sales", "Mostly we need the CRM sync",
          "What about GDPR?", "Sounds good", "Thanks!", "Can someone call me?"]

leads = []
messages = []
t0 = 1_763_974_800  # 2026-11-24T09:00:00Z
for c in range(50):
    conv = f"conv-{c + 1:03d}"
    visitor = f"v-{random.randint(10000, 99999)}"
    channel = random.choice(channels)
    ts = t0 + c * 1711 + random.randint(0, 600)
    fn, ln = random.choice(first), random.choice(last)
    email = f"{fn.lower().replace('é', 'e').replace('è', 'e').replace('í', 'i')}.{ln.lower().replace('ü', 'ue').replace('í', 'i').replace('š', 's').replace('ó', 'o')}@example.com"
    phone = f"+49 30 {random.randint(1000000, 9999999)}"
    turns = random.randint(3, 9)
    shares = random.random()
    for t in range(turns):
        if t == 0:
            role, text = "user", random.choice(openers)
        elif t % 2 == 1:
            role = "bot" if not (t == turns - 2 and random.random() < 0.25) else "agent"
            text = random.choice(bot_lines) if role == "bot" else "Hi, this is Sam from the sales team, how can I help?"
        else:
            role, text = "user", random.choice(follow)
            if t == 2 and shares < 0.35:
                text = f"Sure, it's {email}"
            elif t == 2 and shares < 0.5:
                text = f"You can call me on {phone}"
            elif t == 4 and shares > 0.85:
                text = f"my mail is {email.upper()} and phone {phone}"
        ts += random.randint(4, 90)
        if t == 4 and c % 7 == 3:
            # The visitor comes back after lunch: a second session.
            ts += 45 * 60
        if t == 2 and role == "user" and 0.5 <= shares < 0.56:
            text = "my card 4111 1111 1111 1111 was charged twice, IBAN DE89 3704 0044 0532 0130 00"
        messages.append({
            "conversation_id": conv, "ts": f"2026-11-{24 + ts // 86400 - t0 // 86400:02d}T{(ts % 86400) // 3600:02d}:{(ts % 3600) // 60:02d}:{ts % 60:02d}Z",
            "role": role, "text": text, "channel": channel, "visitor_id": visitor,
        })
    if shares < 0.5 or shares > 0.85:
        leads.append((fn, ln, email, phone, random.choice(companies), channel))

with open(os.path.join(here, "conversations.jsonl"), "w") as f:
    for m in messages:
        f.write(json.dumps(m, ensure_ascii=False) + "\n")

def q(s):
    return '"' + s.replace('"', '""') + '"' if any(ch in s for ch in ',"\n') else s

rows = []
for i, (fn, ln, email, phone, company, channel) in enumerate(leads):
    shown = email
    if i % 4 == 0:
        shown = "  " + email.title() + " "
    elif i % 4 == 1:
        shown = email.upper()
    score = str(random.randint(5, 98))
    note = "asked about pricing, wants a call\nprefers mornings" if i % 5 == 0 else "chat lead"
    rows.append([str(1000 + i), shown, fn, ln, company, phone, channel, score,
                 f"2026-11-{24 + i // 20:02d}T{9 + i % 8:02d}:{(i * 7) % 60:02d}:00Z", note])
# Duplicates: the same lead exported twice, once with a fresher score.
dup = list(rows[2]); dup[7] = "91"; rows.append(dup)
rows.append(list(rows[5]))
# Web-form leads without a chat.
rows.append(["2001", "maria.rossi@example.org", "Maria", "Rossi", "Rossi \"Trattoria\", Milano", "+39 02 5550 1234", "webform", "64", "2026-11-26T10:12:00Z", "found us at the trade fair"])
rows.append(["2002", "j.smith@example.net ", "John", "Smith", "", "", "webform", "n/a", "2026-11-26T11:40:00Z", "score missing in the form export"])
with open(os.path.join(here, "leads.csv"), "w", newline="") as f:
    f.write("id,email,first_name,last_name,company,phone,source,score,created_at,notes\n")
    for r in rows:
        f.write(",".join(q(v) for v in r) + "\n")
    # A broken row: an unquoted comma splits the company into two fields.
    f.write("2003,ops@example.io,Lee,Park,Park, Lee & Co,+1 415 555 0199,webform,40,2026-11-26T12:00:00Z,typed by hand\n")
print(f"{len(messages)} messages in 50 conversations, {len(rows) + 1} lead rows")

# Hand-offs: the chat widget records each conversation the bot passed to a
# human (its first agent message); the handoffs job makes a help-desk
# ticket of each. No random draws here, so the files above are unchanged.
handoffs = {}
for m in messages:
    if m["role"] == "agent" and m["conversation_id"] not in handoffs:
        handoffs[m["conversation_id"]] = m["ts"]
firsts = {}
for m in messages:
    if m["role"] == "user":
        firsts.setdefault(m["conversation_id"], m["text"])
with open(os.path.join(here, "handoffs.csv"), "w", newline="") as f:
    f.write("conversation_id,handed_off_at,subject,priority\n")
    for conv, ts in sorted(handoffs.items()):
        opener = firsts.get(conv, "")
        prio = "high" if "invoice" in opener.lower() or "pricing" in opener.lower() else "normal"
        f.write(",".join(q(v) for v in [conv, ts, "Chat handed off: " + opener, prio]) + "\n")
print(f"{len(handoffs)} hand-offs")
