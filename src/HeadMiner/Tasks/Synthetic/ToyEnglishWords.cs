namespace HeadMiner.Tasks.Synthetic;

/// <summary>
/// The English words of the toy English, after the toy language's 349 tokens (ids 349 on, in this order): 50 first
/// names (the first of <c>FirstNames</c>, with Mary and John), Yes/No, IOI's places and objects, Greater-Than's event
/// nouns, the MCQA/yes-no categories and members, every successor list (numbers 0–99, number words, days, months,
/// letters, each also abbreviated or lowercase), the two-digit years 00–09, the needle's filler sentences and the
/// detectors' English sample text, split as the tokenizer splits them, then the template words found by generating
/// every task set until none refuses a word. A fixed list rather than computed at load: a change to a generator's
/// templates must not move the ids of a trained model (<c>ToyEnglishTests</c> checks the list is still complete).
/// </summary>
internal static class ToyEnglishWords
{
    public static IReadOnlyList<string> Words { get; } =
    [
        "Lily", "Tim", "Timmy", "Sue", "Ben", "Max", "Mia", "Tom", "Sam", "Anna", "Lucy", "Jack", "Amy", "Bob", "Spot",
        "Sara", "Sarah", "Jill", "Mark", "Mike", "Kim", "Jane", "Joe", "Billy", "Bobby", "Molly", "Daisy", "Rosie",
        "Ellie", "Emma", "Ella", "Lila", "Zoe", "Jake", "Kate", "Katie", "Mimi", "Bella", "Luna", "Leo", "Finn",
        "Toby", "Teddy", "Benny", "Rex", "Buddy", "Fluffy", "Polly", "Mary", "John", "Yes", "No", "store", "park",
        "school", "hospital", "station", "office", "garden", "restaurant", "library", "house", "beach", "market",
        "church", "museum", "hotel", "airport", "bank", "farm", "river", "lake", "shop", "zoo", "pond", "forest",
        "woods", "yard", "room", "kitchen", "playground", "town", "city", "hill", "sea", "field", "castle", "tree",
        "barn", "cafe", "bakery", "class", "drink", "book", "ring", "bag", "kiss", "gift", "letter", "flower", "pen",
        "ball", "key", "cake", "necklace", "snack", "basketball", "computer", "bone", "card", "hat", "phone", "toy",
        "doll", "cookie", "apple", "box", "cup", "kite", "car", "dog", "cat", "bird", "fish", "shell", "rock", "stick",
        "sock", "coat", "bear", "candy", "pie", "banana", "note", "map", "picture", "balloon", "bike", "boat", "sword",
        "hug", "war", "conflict", "expedition", "reign", "drought", "project", "strike", "siege", "dynasty",
        "occupation", "campaign", "journey", "festival", "trial", "crisis", "revolution", "rebellion", "voyage",
        "empire", "plague", "color", "red", "blue", "green", "yellow", "black", "white", "brown", "pink", "purple",
        "grey", "animal", "horse", "cow", "lion", "sheep", "pig", "tiger", "rabbit", "mouse", "fruit", "grape",
        "lemon", "cherry", "pear", "peach", "mango", "melon", "plum", "number", "one", "two", "three", "four", "five",
        "six", "seven", "eight", "nine", "ten", "country", "France", "Germany", "Spain", "Italy", "Japan", "China",
        "India", "Canada", "Brazil", "Mexico", "vehicle", "bus", "train", "truck", "plane", "ship", "0", "1", "2", "3",
        "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16", "17", "18", "19", "20", "21", "22",
        "23", "24", "25", "26", "27", "28", "29", "30", "31", "32", "33", "34", "35", "36", "37", "38", "39", "40",
        "41", "42", "43", "44", "45", "46", "47", "48", "49", "50", "51", "52", "53", "54", "55", "56", "57", "58",
        "59", "60", "61", "62", "63", "64", "65", "66", "67", "68", "69", "70", "71", "72", "73", "74", "75", "76",
        "77", "78", "79", "80", "81", "82", "83", "84", "85", "86", "87", "88", "89", "90", "91", "92", "93", "94",
        "95", "96", "97", "98", "99", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen", "seventeen",
        "eighteen", "nineteen", "twenty", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday",
        "January", "February", "March", "April", "June", "July", "August", "September", "October", "November",
        "December", "a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k", "l", "m", "n", "o", "p", "q", "r", "s", "t",
        "u", "v", "w", "x", "y", "z", "00", "01", "02", "03", "04", "05", "06", "07", "08", "09", "The", "morning",
        "was", "quiet", "and", "the", "were", "still", "wet", "from", "rain", ".", "small", "along", "edge", "of",
        "had", "left", "against", "old", "stone", "wall", "baker", "early", "smell", "bread", "air", "to", "in",
        "pairs", ",", "about", "In", "an", "man", "fed", "birds", "paper", "clock", "on", "tower", "struck", "away",
        "moved", "west", "wind", "twice", "behind", "fence", "then", "fell", "silent", "busy", "with", "near", "On",
        "gate", "that", "broken", "its", "sound", "into", "trees", "keeper", "every", "wrote", "numbers",
        "salt-stained", "After", "storm", "found", "barnacle-covered", "wedged", "between", "planks", "deck", "My",
        "kept", "her", "buttons", "biscuit", "tin", "sorted", "by", "colour", "ones", "committee", "vote", "because",
        "treasurer", "ledgers", "again", "boy", "asked", "whether", "could", "swim", "she", "fetched", "check",
        "village", "rises", "at", "kneads", "sells", "out", "buns", "before", "When", "orchestra", "tuned", "up",
        "noticed", "someone", "replaced", "his", "reed", "drinking", "straw", "They", "canal", "past", "moored",
        "until", "drizzle", "tapped", "outcrop", "hammer", "pointed", "seam", "Every", "winter", "hold", "chess",
        "retired", "wins", "it", "sat", "mat", "went", "lasted", "year", "Then", "they", "She", "gave", "lot", "fun",
        "got", "decided", "give", "While", "working", "Friends", "closed", "so", "home", "handed", "At", "secret",
        "is", "Question", ":", "What", "?", "Answer", "Which", "these", "Is", "kind", "or",
        // The acronym set (issue 14): "(" and its capitalised words.
        "(", "Advanced", "Agency", "Annual", "Applied", "Basic", "Board", "Bureau", "Business", "Central", "Common",
        "Community", "Control", "Council", "Data", "Defense", "Department", "Design", "Digital", "Direct", "Early",
        "Economic", "Education", "Energy", "Federal", "Financial", "Foreign", "Free", "General", "Global",
        "Government", "Green", "Health", "High", "Human", "Image", "Industrial", "Information", "Internal",
        "International", "Joint", "Junior", "Justice", "Key", "Knowledge", "Labor", "Learning", "Light", "Local",
        "Management", "Market", "Medical", "Mobile", "National", "Natural", "Network", "New", "Office", "Online",
        "Open", "Operations", "Physical", "Policy", "Power", "Program", "Project", "Public", "Quality", "Quantum",
        "Real", "Regional", "Research", "Risk", "Safety", "Science", "Security", "Service", "Small", "Social",
        "System", "Technical", "Total", "Training", "Union", "United", "Urban", "Value", "Video", "Virtual", "Water",
        "Western", "World", "Young", "Youth", "Zone",
        // Word pieces (issue 14: a vocabulary with subwords, so subword_merge can run): 26 words of the needle's filler
        // (in training) and 27 rare words of the sample text exist only as WordPiece pieces, "##" marking a piece
        // that continues a word ("harbour" → "harb" "##our", "kittiwakes" → "kitti" "##wake" "##s"). Pieces the
        // list already has ("farm", "note") are not repeated.
        "street", "##s", "drift", "##ed", "slow", "##ly", "harb", "##our", "Some", "##body", "bi", "##cycle", "lean",
        "##ing", "open", "Child", "##ren", "talk", "week", "##end", "pull", "Cloud", "cold", "##er", "bark", "student",
        "read", "window", "fix", "dist", "##ance", "fad", "turn", "walk", "fill", "pass", "kitti", "##wake", "quarter",
        "##master", "astro", "##labe", "tortoise", "##shell", "un", "##recon", "##cile", "##d", "ptero", "##dactyl",
        "encyclo", "##paedia", "sour", "##dough", "carda", "##mom", "bassoon", "##ist", "tow", "##path", "narrow",
        "##boat", "chalco", "##pyrite", "carto", "##graph", "light", "##house", "grand", "##mother", "##book",
        "glitter", "mis", "##place", "post", "##pone", "librar", "##ian", "geolog", "tourna", "##ment", "neighbour",
        "favourite", "persist", "##ent", "count",
    ];
}
