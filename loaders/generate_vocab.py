"""Fixed word lists of the synthetic world: industries, countries, titles, names, products, activity types.

No entry contains a comma, a double quote or a line break, so the CSV writer never has to quote.
"""

from __future__ import annotations

# Industry, share of accounts, and its effect on the log base hazard (visible signal from the account's own row).
INDUSTRIES: tuple[tuple[str, float, float], ...] = (
    ("Technology", 0.16, 0.45),
    ("Financial Services", 0.11, 0.30),
    ("Healthcare", 0.10, 0.10),
    ("Manufacturing", 0.12, 0.00),
    ("Retail", 0.09, -0.10),
    ("Telecommunications", 0.05, 0.25),
    ("Energy", 0.05, -0.15),
    ("Education", 0.06, -0.35),
    ("Government", 0.05, -0.50),
    ("Media", 0.05, 0.05),
    ("Transportation", 0.06, -0.20),
    ("Professional Services", 0.10, 0.15),
)

# Country, share of accounts, sales region (the owner's Department).
COUNTRIES: tuple[tuple[str, float, str], ...] = (
    ("United States", 0.34, "North America"),
    ("Canada", 0.05, "North America"),
    ("United Kingdom", 0.09, "EMEA"),
    ("Germany", 0.08, "EMEA"),
    ("France", 0.06, "EMEA"),
    ("Netherlands", 0.03, "EMEA"),
    ("Spain", 0.03, "EMEA"),
    ("Sweden", 0.02, "EMEA"),
    ("Japan", 0.05, "APAC"),
    ("Australia", 0.04, "APAC"),
    ("India", 0.05, "APAC"),
    ("Singapore", 0.03, "APAC"),
    ("Brazil", 0.06, "LATAM"),
    ("Mexico", 0.04, "LATAM"),
    ("Chile", 0.03, "LATAM"),
)
REGIONS: tuple[str, ...] = ("North America", "EMEA", "APAC", "LATAM")

# Title, share of contacts, seniority (the graph model's values).
TITLES: tuple[tuple[str, float, str], ...] = (
    ("CEO", 0.03, "c_level"),
    ("CFO", 0.03, "c_level"),
    ("CTO", 0.03, "c_level"),
    ("CIO", 0.02, "c_level"),
    ("VP Sales", 0.03, "vp"),
    ("VP Engineering", 0.04, "vp"),
    ("VP Operations", 0.03, "vp"),
    ("Director of IT", 0.06, "director"),
    ("Director of Finance", 0.04, "director"),
    ("Head of Marketing", 0.04, "director"),
    ("Head of Data", 0.04, "director"),
    ("IT Manager", 0.08, "manager"),
    ("Procurement Manager", 0.05, "manager"),
    ("Operations Manager", 0.07, "manager"),
    ("Engineering Manager", 0.06, "manager"),
    ("Software Engineer", 0.09, "individual"),
    ("Data Analyst", 0.08, "individual"),
    ("Systems Administrator", 0.07, "individual"),
    ("Business Analyst", 0.06, "individual"),
    ("Marketing Specialist", 0.04, "individual"),
)
SENIORITY_RANK = {"c_level": 4, "vp": 3, "director": 2, "manager": 1, "individual": 0}

FIRST_NAMES: tuple[str, ...] = (
    "James", "Mary", "Robert", "Patricia", "John", "Jennifer", "Michael", "Linda", "David", "Elizabeth",
    "William", "Barbara", "Richard", "Susan", "Joseph", "Jessica", "Thomas", "Sarah", "Charles", "Karen",
    "Daniel", "Lisa", "Matthew", "Nancy", "Anthony", "Betty", "Mark", "Sandra", "Steven", "Ashley",
    "Paul", "Emily", "Andrew", "Donna", "Joshua", "Michelle", "Kenji", "Yuki", "Priya", "Arjun",
    "Lucas", "Sofia", "Mateo", "Valentina", "Liam", "Emma", "Noah", "Olivia", "Lena", "Jonas",
    "Camille", "Hugo", "Ingrid", "Lars", "Aisha", "Omar", "Wei", "Mei", "Carlos", "Lucia",
)
LAST_NAMES: tuple[str, ...] = (
    "Smith", "Johnson", "Williams", "Brown", "Jones", "Garcia", "Miller", "Davis", "Rodriguez", "Martinez",
    "Hernandez", "Lopez", "Gonzalez", "Wilson", "Anderson", "Thomas", "Taylor", "Moore", "Jackson", "Martin",
    "Lee", "Perez", "Thompson", "White", "Harris", "Sanchez", "Clark", "Ramirez", "Lewis", "Robinson",
    "Walker", "Young", "Allen", "King", "Wright", "Scott", "Tanaka", "Sato", "Patel", "Sharma",
    "Muller", "Schmidt", "Schneider", "Fischer", "Dubois", "Moreau", "Rossi", "Bianchi", "Nilsson", "Larsson",
    "Silva", "Santos", "Oliveira", "Kim", "Park", "Chen", "Wang", "Nguyen", "Okafor", "Haddad",
)

COMPANY_HEADS: tuple[str, ...] = (
    "Nova", "Apex", "Blue", "Quantum", "Iron", "Silver", "Bright", "Core", "Vertex", "Summit",
    "Pioneer", "Atlas", "Orbit", "Cedar", "Granite", "Harbor", "Lumen", "Maple", "Nimbus", "Polar",
    "Radiant", "Sterling", "Terra", "Vector", "Zenith", "Crystal", "Delta", "Evergreen", "Falcon", "Golden",
)
COMPANY_TAILS: tuple[str, ...] = (
    "tech", "soft", "works", "logic", "point", "wave", "line", "field", "stone", "bridge",
    "path", "gate", "view", "forge", "scale", "cloud", "data", "labs", "net", "grid",
)
# A trade word between the brand and the suffix (blank for one company in ten): with it there are
# about 250,000 distinct names, so namesakes exist (as in any CRM) without flooding identity review.
COMPANY_TRADES: tuple[str, ...] = (
    "Analytics", "Health", "Energy", "Logistics", "Capital", "Media", "Robotics", "Foods", "Networks", "Pharma",
    "Security", "Biotech", "Retail", "Aerospace", "Motors", "Textiles", "Consulting", "Dynamics", "Digital", "Marine",
    "Mining", "Chemicals", "Insurance", "Telecom", "Devices", "Materials", "Payments", "Software", "Water", "Farms",
    "Freight", "Medical", "Learning", "Studios", "Brands", "Power", "Metals", "Optics", "Instruments", "Ventures",
)
COMPANY_SUFFIXES: tuple[str, ...] = (
    "Inc", "Corp", "Group", "Systems", "Solutions", "Holdings", "Industries", "Partners", "GmbH", "Ltd",
)

# Product name, family, list price.
PRODUCTS: tuple[tuple[str, str, float], ...] = (
    ("Graph Platform Standard", "Platform", 12000.0),
    ("Graph Platform Enterprise", "Platform", 48000.0),
    ("Graph Platform Unlimited", "Platform", 120000.0),
    ("Insight Analytics", "Analytics", 9000.0),
    ("Insight Analytics Pro", "Analytics", 24000.0),
    ("Forecast Add-on", "Analytics", 6000.0),
    ("Signal Streams", "Analytics", 15000.0),
    ("Guard Identity", "Security", 8000.0),
    ("Guard Audit", "Security", 5000.0),
    ("Guard Data Loss Prevention", "Security", 18000.0),
    ("Connector Pack", "Integration", 3000.0),
    ("Connector Pack Premium", "Integration", 7500.0),
    ("Event Hub", "Integration", 11000.0),
    ("Onboarding Service", "Services", 15000.0),
    ("Training Seat", "Services", 1200.0),
    ("Custom Development Day", "Services", 1800.0),
    ("Premium Support", "Support", 10000.0),
    ("Standard Support", "Support", 4000.0),
    ("Extra Storage TB", "Platform", 900.0),
    ("User Licence", "Platform", 600.0),
)

CAMPAIGN_TYPES: tuple[tuple[str, float], ...] = (
    ("Webinar", 0.35),
    ("Email", 0.30),
    ("Conference", 0.10),
    ("Trade Show", 0.10),
    ("Advertisement", 0.15),
)
CAMPAIGN_TOPICS: tuple[str, ...] = (
    "Graph Analytics", "Data Security", "Cloud Migration", "Customer Insight", "AI in Sales",
    "Forecasting", "Integration Day", "Product Launch", "Partner Summit", "Best Practices",
)

# Salesforce Task Type values of the contract (docs/salesforce-export.md) and Event Type.
ENGAGEMENT_TYPES: tuple[str, ...] = ("Email Opened", "Email Replied", "Web Visit", "Content Download", "Webinar")
ENGAGEMENT_WEIGHTS: tuple[float, ...] = (0.32, 0.12, 0.30, 0.16, 0.10)
# Everyday activity that carries no intent: the noise every CRM is full of.
BACKGROUND_TYPES: tuple[tuple[str, float], ...] = (
    ("Email", 0.24),
    ("Email Opened", 0.14),
    ("Web Visit", 0.12),
    ("Call", 0.12),
    ("Meeting", 0.06),
    ("Form", 0.03),
    ("Content Download", 0.04),
    ("Email Replied", 0.04),
    ("Webinar", 0.02),
    ("Other", 0.04),
    ("Support Ticket", 0.07),
    ("Product Usage", 0.08),
)
# Customers only (prospects do not file tickets or use the product).
CUSTOMER_ONLY_TYPES: frozenset[str] = frozenset({"Support Ticket", "Product Usage"})
DEAL_ACTIVITY_TYPES: tuple[tuple[str, float], ...] = (("Email", 0.45), ("Call", 0.25), ("Meeting", 0.25), ("Other", 0.05))
TASK_SUBJECTS: dict[str, str] = {
    "Email": "Email: follow up",
    "Email Opened": "Email opened",
    "Email Replied": "Email reply received",
    "Call": "Call",
    "Web Visit": "Visited pricing page",
    "Content Download": "Downloaded whitepaper",
    "Webinar": "Attended webinar",
    "Form": "Submitted contact form",
    "Support Ticket": "Support case opened",
    "Product Usage": "Product usage report",
    "Other": "Follow up",
    "Meeting": "Meeting",
}
TASK_SUBTYPES: dict[str, str] = {"Email": "Email", "Email Opened": "Email", "Email Replied": "Email", "Call": "Call"}

OPEN_STAGES: tuple[str, ...] = ("Prospecting", "Qualification", "Needs Analysis", "Proposal/Price Quote", "Negotiation/Review")
COMMITTEE_ROLES: tuple[str, ...] = (
    "Decision Maker", "Economic Buyer", "Champion", "Influencer", "Technical Buyer", "User", "Blocker",
)
