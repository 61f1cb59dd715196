"""Word lists for synthetic customers (names, companies, addresses)."""

# code, weight, currency, locale, tld, [(city, state, postal pattern)]  ('#' = digit)
COUNTRIES = [
    ("US", 50.0, "usd", "en-US", "com", [("San Francisco", "CA", "941##"), ("New York", "NY", "100##"),
                                         ("Austin", "TX", "787##"), ("Seattle", "WA", "981##"),
                                         ("Chicago", "IL", "606##"), ("Boston", "MA", "021##"),
                                         ("Denver", "CO", "802##"), ("Atlanta", "GA", "303##")]),
    ("CA", 5.0, "usd", "en-CA", "ca", [("Toronto", "ON", "M5V 2#8"), ("Vancouver", "BC", "V6B 1#4")]),
    ("AU", 3.0, "usd", "en-AU", "com.au", [("Sydney", "NSW", "2000"), ("Melbourne", "VIC", "3000")]),
    ("IN", 2.0, "usd", "en-IN", "in", [("Bengaluru", "KA", "5600##"), ("Mumbai", "MH", "4000##")]),
    ("BR", 2.0, "usd", "pt-BR", "com.br", [("São Paulo", "SP", "01310-###")]),
    ("SG", 1.5, "usd", "en-SG", "sg", [("Singapore", None, "0189##")]),
    ("MX", 1.0, "usd", "es-MX", "mx", [("Mexico City", "CDMX", "066##")]),
    ("DE", 6.0, "eur", "de-DE", "de", [("Berlin", None, "101##"), ("Munich", None, "803##"), ("Hamburg", None, "203##")]),
    ("FR", 4.0, "eur", "fr-FR", "fr", [("Paris", None, "750##"), ("Lyon", None, "6900#")]),
    ("NL", 2.5, "eur", "nl-NL", "nl", [("Amsterdam", None, "10## AB"), ("Rotterdam", None, "30## CD")]),
    ("ES", 2.0, "eur", "es-ES", "es", [("Madrid", None, "280##"), ("Barcelona", None, "080##")]),
    ("IT", 1.5, "eur", "it-IT", "it", [("Milan", None, "201##")]),
    ("IE", 1.0, "eur", "en-IE", "ie", [("Dublin", None, "D02 X#4#")]),
    ("GB", 10.0, "gbp", "en-GB", "co.uk", [("London", None, "EC1A #BB"), ("Manchester", None, "M1 #AE"),
                                            ("Edinburgh", None, "EH1 #YZ")]),
    ("JP", 5.0, "jpy", "ja-JP", "co.jp", [("Tokyo", None, "100-00##"), ("Osaka", None, "530-00##")]),
]

FIRST_NAMES = [
    "James", "Mary", "Wei", "Aisha", "Carlos", "Sofia", "Liam", "Emma", "Noah", "Olivia", "Hiroshi", "Yuki",
    "Lukas", "Hannah", "Mateo", "Lucia", "Arjun", "Priya", "Chloe", "Louis", "Ella", "Finn", "Sven", "Ingrid",
    "Omar", "Fatima", "Daniel", "Grace", "Ravi", "Ana", "Jonas", "Lea", "Ethan", "Mia", "Kenji", "Sakura",
    "Marco", "Giulia", "Sean", "Aoife", "Pedro", "Camila", "Tom", "Amelia", "Felix", "Nora", "David", "Zoe",
]
LAST_NAMES = [
    "Smith", "Johnson", "Chen", "Khan", "Garcia", "Rossi", "Murphy", "Müller", "Schmidt", "Dubois", "Martin",
    "Tanaka", "Sato", "Suzuki", "Patel", "Sharma", "Silva", "Santos", "Jansen", "de Vries", "Fernández", "López",
    "Brown", "Wilson", "Taylor", "Anderson", "Nguyen", "Kim", "Park", "O'Brien", "Walsh", "Bianchi", "Weber",
    "Fischer", "Moreau", "Laurent", "Jones", "Davies", "Evans", "Thomas", "Lee", "Clark", "Lewis", "Young",
]
COMPANY_A = [
    "Blue", "Bright", "North", "Silver", "Quantum", "Rapid", "Clever", "Green", "Golden", "Open", "Swift", "Lunar",
    "Solar", "Urban", "Prime", "Vivid", "Nimble", "Atlas", "Cobalt", "Crimson", "Summit", "Harbor", "Pixel", "Cedar",
]
COMPANY_B = [
    "Labs", "Works", "Systems", "Analytics", "Studio", "Logistics", "Health", "Foods", "Media", "Robotics", "Data",
    "Cloud", "Retail", "Finance", "Games", "Energy", "Travel", "Learning", "Design", "Security", "Mobility", "Bio",
]
COMPANY_SUFFIX = {"US": "Inc.", "CA": "Inc.", "AU": "Pty Ltd", "IN": "Pvt Ltd", "BR": "Ltda", "SG": "Pte Ltd",
                  "MX": "S.A. de C.V.", "DE": "GmbH", "FR": "SAS", "NL": "B.V.", "ES": "S.L.", "IT": "S.r.l.",
                  "IE": "Ltd", "GB": "Ltd", "JP": "K.K."}
STREETS = ["Market St", "Main St", "High Street", "Station Rd", "Elm Ave", "Harbour Way", "Park Lane", "King St",
           "Rue de Rivoli", "Hauptstraße", "Calle Mayor", "Via Roma", "Keizersgracht", "Chuo-dori", "Queen St"]
INDUSTRIES = ["software", "ecommerce", "fintech", "healthcare", "education", "media", "agency", "logistics",
              "nonprofit", "manufacturing", "travel", "gaming"]
