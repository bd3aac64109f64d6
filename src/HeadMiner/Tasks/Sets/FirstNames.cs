namespace HeadMiner.Tasks.Sets;

/// <summary>
/// Common English first names for the sets that need names (IOI): the names children's stories use first (what a
/// TinyStories vocabulary keeps whole: Lily, Tim, Timmy, …), then common given names of the English-speaking world.
/// A set keeps those that are one token with a leading space for its tokenizer (<see cref="TokenChecks.SingleWords"/>),
/// so a 50k vocabulary keeps hundreds and a 512-token one the few it learned. Names that are as often common words
/// (Will, Guy, Grant, June, Joy, …) are left out, so a prompt reads as being about people.
/// </summary>
internal static class FirstNames
{
    public static IReadOnlyList<string> All { get; } =
    [
        // Children's stories (TinyStories and picture books).
        "Lily", "Tim", "Timmy", "Sue", "Ben", "Max", "Mia", "Tom", "Sam", "Anna", "Lucy", "Jack", "Amy", "Bob", "Spot",
        "Sara", "Sarah", "Jill", "Mark", "Mike", "Kim", "Jane", "Joe", "Billy", "Bobby", "Molly", "Daisy", "Rosie",
        "Ellie", "Emma", "Ella", "Lila", "Zoe", "Jake", "Kate", "Katie", "Mimi", "Bella", "Luna", "Leo", "Finn", "Toby",
        "Teddy", "Benny", "Rex", "Buddy", "Fluffy", "Polly", "Pip", "Sophie", "Susie", "Tommy", "Jimmy", "Johnny",
        "Danny", "Annie", "Maggie", "Sally", "Betty", "Peter", "Paul", "Pam", "Dan", "Ann", "Liz", "Meg", "Ned", "Ted",
        // Common given names.
        "Mary", "John", "Alice", "James", "David", "Michael", "Laura", "Lisa", "Kevin", "Rachel", "Daniel", "Jessica",
        "Ryan", "Brian", "Jennifer", "Steven", "Karen", "Eric", "Susan", "Adam", "Chris", "Linda", "Andrew", "Helen",
        "Grace", "Julia", "George", "Rose", "Henry", "Frank", "Emily", "Scott", "Amanda", "Victoria", "Charles",
        "Patrick", "Thomas", "Richard", "Robert", "William", "Joseph", "Edward", "Oliver", "Harry", "Charlie",
        "Jacob", "Noah", "Liam", "Lucas", "Ethan", "Mason", "Logan", "Alexander", "Elijah", "Aiden", "Matthew",
        "Samuel", "Joshua", "Nathan", "Isaac", "Gabriel", "Anthony", "Christopher", "Andrew", "Dylan", "Luke",
        "Owen", "Caleb", "Jordan", "Aaron", "Evan", "Connor", "Tyler", "Hunter", "Adrian", "Cameron", "Austin",
        "Jason", "Justin", "Brandon", "Kyle", "Sean", "Zach", "Alex", "Nick", "Nicholas", "Jonathan", "Timothy",
        "Stephen", "Gary", "Larry", "Jeff", "Jeffrey", "Greg", "Dennis", "Jerry", "Walter", "Arthur", "Albert",
        "Carl", "Roger", "Keith", "Jeremy", "Terry", "Sean", "Harold", "Douglas", "Peter", "Raymond", "Gerald",
        "Philip", "Phil", "Bruce", "Louis", "Russell", "Bobby", "Victor", "Martin", "Ernest", "Howard", "Fred",
        "Ray", "Roy", "Eugene", "Wayne", "Ralph", "Randy", "Vincent", "Carlos", "Juan", "Jose", "Luis", "Mario",
        "Marco", "Ivan", "Oscar", "Hugo", "Felix", "Simon", "Ian", "Neil", "Colin", "Graham", "Stuart", "Gordon",
        "Dave", "Steve", "Tony", "Bill", "Jim", "Joe", "Ken", "Ron", "Don", "Rob", "Tim", "Matt", "Josh",
        "Jon", "Ben", "Dan", "Andy", "Eddie", "Frankie", "Jay", "Lee", "Leon", "Troy", "Glen",
        "Lewis", "Elliot", "Theo", "Jasper", "Milo", "Oscar", "Archie", "Freddie", "Alfie", "Reggie", "Ollie",
        "Elizabeth", "Margaret", "Patricia", "Barbara", "Nancy", "Sandra", "Donna", "Carol", "Ruth", "Sharon",
        "Michelle", "Kimberly", "Deborah", "Dorothy", "Melissa", "Stephanie", "Rebecca", "Cynthia", "Kathleen",
        "Amy", "Shirley", "Angela", "Anna", "Brenda", "Pamela", "Nicole", "Katherine", "Christine", "Samantha",
        "Debra", "Janet", "Catherine", "Carolyn", "Virginia", "Maria", "Heather", "Diane", "Julie", "Joyce",
        "Evelyn", "Joan", "Kelly", "Christina", "Lauren", "Martha", "Andrea", "Cheryl", "Megan", "Alice", "Jean",
        "Ashley", "Hannah", "Olivia", "Sophia", "Ava", "Isabella", "Abigail", "Madison", "Chloe", "Natalie",
        "Addison", "Aubrey", "Lillian", "Layla", "Brooklyn", "Leah", "Hailey", "Savannah", "Audrey", "Claire",
        "Sadie", "Ruby", "Eva", "Alexa", "Violet", "Stella", "Hazel", "Aria", "Scarlett", "Nora", "Penelope",
        "Riley", "Lily", "Jenny", "Jen", "Beth", "Becky", "Amber", "Erin", "Tina", "Dana", "Diana", "Ellen",
        "Emily", "Fiona", "Gina", "Holly", "Ivy", "Jade", "Jess", "Kara", "Kay", "Lena", "Lori",
        "Lydia", "Mae", "Maya", "Nina", "Nell", "Paige", "Rita", "Rosa", "Sophie", "Tara", "Tess", "Vera", "Wendy",
        "Alan", "Brad", "Brett", "Clark", "Craig", "Derek", "Ed", "Ellis", "Frank", "Gavin", "Hank",
        "Jeff", "Jesse", "Joel", "Kurt", "Luke", "Marcus", "Nathan", "Noel", "Otto", "Ross",
        "Rudy", "Seth", "Shane", "Todd", "Vince", "Wade", "Zack", "Abby", "Alicia", "Annie", "Carla", "Cara",
        "Chelsea", "Clara", "Cora", "Dora", "Edith", "Elsa", "Eliza", "Ethel", "Flora", "Greta", "Hilda", "Iris",
        "Irene", "Josie", "Kitty", "Lola", "Mabel", "Millie", "Nelly", "Olive", "Pearl", "Peggy", "Poppy", "Sadie",
    ];
}
