"""The bilingual lexicon of the parentese generator: project-written English-Italian entries.

Each line of the tables below is one concept with its English and Italian words, the
Italian gender, and semantic tags that keep generated sentences sensible (only animals
bark, only food is eaten, only containers are filled). Regular forms are derived by
:mod:`lm_gym.corpora.lexicon_en` and :mod:`lm_gym.corpora.lexicon_it`; a line spells out
only what is irregular.

Line formats (fields separated by ``|``):

* nouns: ``english[/plural] | italiano[/plurale] gender[*] | tags``; ``*`` marks an Italian
  noun with the same form in the plural; the tag ``mass`` marks a noun used only in the
  singular with a definite article (``milk``, ``the sun``); ``kin`` a family word that is a
  bare name in English (``Mommy is here`` / ``La mamma è qui``); ``family`` a relative whose
  Italian possessive takes no article in the singular (``mio zio``, but ``i miei zii``);
  ``rel`` a person who can be someone's (``my friend``, but not ``my pirate``).
* adjectives: ``english | italiano[*] [mpl=form] | noun tags it applies to``; ``*`` marks an
  invariable adjective (``blu``), ``mpl=`` an irregular masculine plural.
* verbs: ``base[ particle][/past/participle] | infinito[ complement][ isc] [key=form ...] |
  frames | subject tags | object tags | flags``. An infinitive ending in ``si`` is reflexive
  (``svegliarsi``); ``isc`` marks the ``finisco`` type; the keys ``present=`` (six forms joined
  by ``,``), ``participle=``, ``gerund=`` and ``imperative=`` (``-``: none) give irregular forms.
  Frames are ``intr`` (S V), ``place`` (S V somewhere), ``tr`` (S V O), ``refl`` (S V
  oneself), ``go`` (S V to a place), ``give`` (S V O to X) and ``with`` (S V with O); flags are
  ``E`` (auxiliary *essere*) and ``R`` (English shows the reflexive: ``washes himself``).
* places: ``english lemma | italian lemma | to-phrase EN | at-phrase EN | to-phrase IT |
  at-phrase IT``.

Tags in the subject/object/adjective columns may be groups (``@anim``) or noun keys (``dog``).
"""

from __future__ import annotations

from dataclasses import dataclass

from lm_gym.corpora import lexicon_en, lexicon_it
from lm_gym.corpora.lexicon_it import ItalianVerb

_NOUNS = """
boy | bambino m | person male
girl | bambina f | person female
baby | bebè m | person male small rel
mommy | mamma f | person kin female family
daddy | papà m | person kin male family
grandma | nonna f | person kin female family
grandpa | nonno m | person kin male family
brother | fratello m | person male rel family
sister | sorella f | person female rel family
friend | amico/amici m | person male rel
teacher | maestra f | person female rel
doctor | dottore m | person male rel
uncle | zio/zii m | person male rel family
aunt | zia f | person female rel family
man/men | uomo/uomini m | person male
woman/women | donna f | person female
cousin | cugino m | person male rel family
king | re m* | person male
queen | regina f | person female
prince | principe m | person male
princess | principessa f | person female
farmer | contadino m | person male
cook | cuoco m | person male
clown | pagliaccio m | person male
pirate | pirata m | person male
firefighter | pompiere m | person male
baker | fornaio m | person male
nurse | infermiera f | person female
dog | cane m | animal pet
cat | gatto m | animal pet
bird | uccellino m | animal flier small
fish/fish | pesce m | animal swimmer small
cow | mucca f | animal farm
horse | cavallo m | animal farm
pig | maiale m | animal farm
sheep/sheep | pecora f | animal farm
duck | anatra f | animal farm swimmer
hen | gallina f | animal farm
rabbit | coniglio m | animal pet small
mouse/mice | topo m | animal small
frog | rana f | animal small swimmer
bear | orso m | animal wild
lion | leone m | animal wild
tiger | tigre f | animal wild
elephant | elefante m | animal wild
monkey | scimmia f | animal wild climber
giraffe | giraffa f | animal wild
snake | serpente m | animal wild
turtle | tartaruga f | animal swimmer
butterfly | farfalla f | animal flier small
bee | ape f | animal flier small
spider | ragno m | animal small climber
owl | gufo m | animal flier
wolf/wolves | lupo m | animal wild
fox | volpe f | animal wild
squirrel | scoiattolo m | animal small climber
zebra | zebra f | animal wild
goat | capra f | animal farm
donkey | asino m | animal farm
puppy | cagnolino m | animal pet small
kitten | gattino m | animal pet small
penguin | pinguino m | animal swimmer
dolphin | delfino m | animal swimmer
whale | balena f | animal swimmer
ant | formica f | animal small
crocodile | coccodrillo m | animal wild swimmer
hippo/hippos | ippopotamo m | animal wild swimmer
snail | lumaca f | animal small
ladybird | coccinella f | animal flier small
worm | verme m | animal small
chick | pulcino m | animal farm small
pony | pony m* | animal farm
deer/deer | cervo m | animal wild
apple | mela f | food fruit round
banana | banana f | food fruit peelable
pear | pera f | food fruit
orange | arancia f | food fruit round peelable
cookie | biscotto m | food sweet
cake | torta f | food sweet makeable
bread | pane m | food mass
cheese | formaggio m | food mass
carrot | carota f | food vegetable peelable
strawberry | fragola f | food fruit
sandwich | panino m | food makeable
pizza | pizza f | food makeable round
candy | caramella f | food sweet
chocolate | cioccolato m | food mass sweet
tomato | pomodoro m | food vegetable round
potato | patata f | food vegetable peelable
cherry | ciliegia f | food fruit round
lemon | limone m | food fruit
peach | pesca f | food fruit round
soup | minestra f | food mass
pasta | pasta f | food mass
rice | riso m | food mass
meat | carne f | food mass
yogurt | yogurt m | food mass
pea | pisello m | food vegetable round
bean | fagiolo m | food vegetable
jam | marmellata f | food mass sweet
honey | miele m | food mass sweet
butter | burro m | food mass
watermelon | anguria f | food fruit round
cucumber | cetriolo m | food vegetable
milk | latte m | drink mass
water | acqua f | drink mass
juice | succo m | drink mass sweet
tea | tè m | drink mass
ball | palla f | toy round throwable
doll | bambola f | toy huggable
teddy | orsacchiotto m | toy huggable
balloon | palloncino m | toy round flier
kite | aquilone m | toy flier
drum | tamburo m | toy
robot | robot m | toy
puzzle | puzzle m* | toy
block | mattoncino m | toy throwable
bucket | secchiello m | toy container
shovel | paletta f | toy
crayon | pastello m | toy
book | libro m | toy readable openable
puppet | burattino m | toy huggable
whistle | fischietto m | toy
bubble | bolla f | toy makeable round
swing | altalena f | toy
slide | scivolo m | toy
game | gioco m | toy
toy | giocattolo m | toy
drawing | disegno m | toy makeable
tower | torre f | toy buildable
castle | castello m | toy buildable
song | canzone f | song
story | storia f | story readable
letter | lettera f | thing readable writable
spoon | cucchiaio m | thing
fork | forchetta f | thing
cup | tazza f | thing container breakable
plate | piatto m | thing breakable
bowl | ciotola f | thing container
bottle | bottiglia f | thing container openable
box | scatola f | thing container openable
bag | borsa f | thing container openable
basket | cestino m | thing container
key | chiave f | thing
phone | telefono m | thing
clock | orologio m | thing round
lamp | lampada f | thing switchable
light | luce f | thing switchable
brush | spazzola f | thing
comb | pettine m | thing
soap | sapone m | thing mass
toothbrush | spazzolino m | thing
towel | asciugamano m | thing foldable
blanket | coperta f | thing foldable huggable
pillow | cuscino m | thing huggable
pencil | matita f | thing
umbrella | ombrello m | thing openable
mirror | specchio m | thing breakable
glass | bicchiere m | thing container breakable
napkin | tovagliolo m | thing foldable
sponge | spugna f | thing
button | bottone m | thing round
hat | cappello m | clothing
shoe | scarpa f | clothing
sock | calzino m | clothing foldable
shirt | maglietta f | clothing foldable
coat | cappotto m | clothing
dress | vestito m | clothing foldable
glove | guanto m | clothing
boot | stivale m | clothing
backpack | zaino m | clothing container openable
scarf/scarves | sciarpa f | clothing foldable
sweater | maglione m | clothing foldable
nappy | pannolino m | clothing
bib | bavaglino m | clothing
table | tavolo m | furniture surface
chair | sedia f | furniture surface
bed | letto m | furniture surface
sofa | divano m | furniture surface
door | porta f | furniture openable
window | finestra f | furniture openable breakable
floor | pavimento m | furniture surface
shelf/shelves | mensola f | furniture surface
wardrobe | armadio m | furniture container openable
car | macchina f | vehicle drivable container
bus | autobus m | vehicle drivable
train | treno m | vehicle
plane | aereo m | vehicle flier
boat | barca f | vehicle swimmer
tractor | trattore m | vehicle drivable
bike | bicicletta f | vehicle
helicopter | elicottero m | vehicle flier
rocket | razzo m | vehicle flier
ship | nave f | vehicle swimmer
truck | camion m | vehicle drivable
scooter | monopattino m | vehicle
tree | albero m | nature plant surface
flower | fiore m | nature plant pickable
leaf/leaves | foglia f | nature pickable
sun | sole m | nature mass
moon | luna f | nature mass
star | stella f | nature
cloud | nuvola f | nature
rain | pioggia f | nature mass
snow | neve f | nature mass
grass | erba f | nature mass plant
sand | sabbia f | nature mass
rainbow | arcobaleno m | nature mass
puddle | pozzanghera f | nature
shell | conchiglia f | nature pickable
nest | nido m | nature buildable
feather | piuma f | nature pickable
stone | sasso m | nature pickable throwable
stick | bastone m | nature pickable throwable
river | fiume m | nature
hill | collina f | nature
nose | naso m | body
mouth | bocca f | body openable
eye | occhio m | body openable
hand | mano/mani f | body
foot/feet | piede m | body
head | testa f | body
tummy | pancia f | body
tooth/teeth | dente m | body
leg | gamba f | body
tail | coda f | body
house | casa f | building buildable
"""

_NAMES = """
Anna f | Sara f | Giulia f | Emma f | Sofia f | Nina f
Luca m | Marco m | Paolo m | Leo m | Matteo m | Tommaso m
"""

_GROUPS = {
    "anim": "person animal",
    "obj": "toy thing clothing vehicle furniture",
    "concrete": "person animal food drink toy thing clothing furniture vehicle nature body "
    "building",
    "movable": "toy thing clothing food",
}

_ADJECTIVES = """
big | grande | @concrete
small | piccolo | @concrete
red | rosso | @obj food nature animal
blue | blu* | @obj nature
yellow | giallo | @obj food nature animal
green | verde | @obj food nature animal
white | bianco | @obj food nature animal
black | nero | @obj animal
pink | rosa* | @obj food nature animal
orange | arancione | @obj food nature animal
purple | viola* | @obj nature
brown | marrone | @obj animal nature
grey | grigio | @obj animal nature
happy | felice | @anim
sad | triste | @anim
tired | stanco | @anim
hungry | affamato | @anim
sleepy | assonnato | @anim
angry | arrabbiato | @anim
scared | spaventato | @anim
good | bravo | @anim
naughty | cattivo | @anim
kind | gentile | person
brave | coraggioso | person
funny | buffo | @anim toy
strong | forte | @anim
cute | carino | @anim toy clothing
pretty | bello | @concrete
ugly | brutto | @obj animal
clean | pulito | @obj body
dirty | sporco | @obj body
hot | caldo | food drink
cold | freddo | food drink nature
new | nuovo | @obj
old | vecchio | @obj person animal
long | lungo | body clothing vehicle stick snake river
short | corto | body clothing stick
tall | alto | person animal plant
soft | morbido | toy clothing furniture animal bread blanket pillow
hard | duro | food thing furniture stone
wet | bagnato | @obj animal person body nature
dry | asciutto | @obj animal person body
full | pieno | container
empty | vuoto | container
heavy | pesante | @concrete
light | leggero | @obj food feather
fast | veloce | @anim vehicle
slow | lento | @anim vehicle
round | rotondo | round
sweet | dolce | food drink
delicious | buono | food drink
shiny | lucido | @obj star
sticky | appiccicoso | food thing body
broken | rotto | toy thing vehicle furniture
quiet | tranquillo | @anim
noisy | rumoroso | @anim vehicle toy
fluffy | soffice | animal toy clothing pillow blanket
huge | enorme | @concrete
tiny | minuscolo | @concrete
ready | pronto | person food
sick | malato | @anim
thirsty | assetato | @anim
fat | grasso | @anim
thin | magro | @anim
nice | simpatico mpl=simpatici | @anim
"""

_VERBS = """
run/ran/run | correre participle=corso | intr place | @anim | - |
jump | saltare | intr place | @anim | - |
sleep/slept/slept | dormire | intr place | @anim | - |
cry | piangere participle=pianto | intr | person | - |
laugh | ridere participle=riso | intr | person | - |
sing/sang/sung | cantare | intr tr | person bird | song |
dance | ballare | intr place | person | - |
swim/swam/swum | nuotare | intr | person swimmer | - |
walk | camminare | intr place | @anim | - |
play | giocare | intr place with | person animal | toy |
fall/fell/fallen | cadere | intr | @concrete | - | E
arrive | arrivare | intr | person animal vehicle | - | E
leave/left/left | partire | intr | person vehicle | - | E
fly/flew/flown | volare | intr | flier | - | E
bark | abbaiare | intr | dog puppy | - |
meow | miagolare | intr | cat kitten | - |
wake up/woke/woken | svegliarsi | refl | @anim | - |
hide/hid/hidden | nascondere participle=nascosto | tr refl | @anim | @movable |
smile | sorridere participle=sorriso | intr | person | - |
crawl | gattonare | intr place | baby | - |
climb | arrampicarsi | refl | person climber | - |
grow/grew/grown | crescere participle=cresciuto | intr | @anim plant | - | E
roll | rotolare | intr | round | - | E
sit down/sat/sat | sedersi present=siedo,siedi,siede,sediamo,sedete,siedono \
    imperative=siedi participle=seduto | refl | @anim | - |
stand up/stood/stood | alzarsi | refl | person | - |
rest | riposare | intr place | @anim | - |
shout | urlare | intr | person | - |
sneeze | starnutire isc | intr | @anim | - |
cough | tossire isc | intr | person | - |
snore | russare | intr | person pet | - |
bounce | rimbalzare | intr | ball balloon | - | E
float | galleggiare | intr | swimmer leaf balloon | - |
come/came/come | venire present=vengo,vieni,viene,veniamo,venite,vengono participle=venuto \
    imperative=vieni | go | person animal | - | E
go/went/gone | andare present=vado,vai,va,andiamo,andate,vanno imperative=vai | go | \
    person animal | - | E
come back/came/come | tornare | go | person animal | - | E
go out/went/gone | uscire present=esco,esci,esce,usciamo,uscite,escono imperative=esci | intr | \
    person animal | - | E
come in/came/come | entrare | intr | person animal | - | E
get down/got/got | scendere participle=sceso | intr | person animal | - | E
stay | restare | intr place | person animal | - | E
hurry up | sbrigarsi | refl | person | - |
scratch | grattarsi | refl | @anim | - | R
wash | lavare | tr refl | person | @obj animal food | R
dry | asciugare | tr refl | person | @obj animal | R
dress | vestire | tr refl | person | doll baby | R
hurt/hurt/hurt | farsi male present=faccio,fai,fa,facciamo,fate,fanno participle=fatto \
    gerund=facendo imperative=fai | refl | @anim | - | R
eat/ate/eaten | mangiare | tr intr | @anim | food |
drink/drank/drunk | bere present=bevo,bevi,beve,beviamo,bevete,bevono participle=bevuto \
    gerund=bevendo imperative=bevi | tr intr | @anim | drink |
take/took/taken | prendere participle=preso | tr | person | @movable |
give/gave/given | dare present=do,dai,dà,diamo,date,danno imperative=dai | give | person | \
    toy food drink thing |
throw/threw/thrown | lanciare | tr | person | throwable |
kick | calciare | tr | person | ball |
catch/caught/caught | acchiappare | tr | @anim | ball balloon mouse fish bird butterfly |
hold/held/held | tenere present=tengo,tieni,tiene,teniamo,tenete,tengono participle=tenuto \
    imperative=tieni | tr | person | @movable small |
hug | abbracciare | tr | person | person animal huggable |
kiss | baciare | tr | person | person animal |
open | aprire participle=aperto | tr | person | openable |
close | chiudere participle=chiuso | tr | person | openable |
find/found/found | trovare | tr | @anim | @movable animal |
lose/lost/lost | perdere participle=perso | tr | person | toy thing clothing |
push | spingere participle=spinto | tr | person | vehicle chair swing toy |
pull | tirare | tr | person | vehicle toy tail |
carry | portare | tr | @anim | @movable baby |
build/built/built | costruire isc | tr | person bird | buildable |
break/broke/broken | rompere participle=rotto | tr | person animal | toy breakable |
fix | aggiustare | tr | person | toy vehicle thing |
draw/drew/drawn | disegnare | tr intr | person | @concrete |
paint | dipingere participle=dipinto | tr intr | person | furniture toy |
read/read/read | leggere participle=letto | tr intr | person | readable |
write/wrote/written | scrivere participle=scritto | tr intr | person | letter story |
cook | cucinare | tr intr | person | food |
cut/cut/cut | tagliare | tr | person | food |
wear/wore/worn | indossare | tr | person | clothing |
clean | pulire isc | tr | person | @obj |
touch | toccare | tr | person animal | @concrete |
want/wanted/wanted | volere present=voglio,vuoi,vuole,vogliamo,volete,vogliono \
    participle=voluto imperative=- | tr | @anim | toy food drink animal |
have/had/had | avere present=ho,hai,ha,abbiamo,avete,hanno imperative=- | tr | @anim | \
    toy thing clothing pet body |
help | aiutare | tr | person animal | person animal |
call | chiamare | tr | person | person animal |
pet | accarezzare | tr | person | animal |
chase | inseguire | tr | @anim | animal ball balloon |
bite/bit/bitten | mordere participle=morso | tr | animal baby | food toy |
smell | annusare | tr | @anim | food flower |
hear/heard/heard | sentire | tr | @anim | @anim vehicle song |
count | contare | tr | person | @movable animal |
pick up | raccogliere present=raccolgo,raccogli,raccoglie,raccogliamo,raccogliete,raccolgono \
    participle=raccolto imperative=raccogli | tr | person | toy pickable |
fill | riempire present=riempio,riempi,riempie,riempiamo,riempite,riempiono \
    gerund=riempiendo | tr | person | \
    container |
buy/bought/bought | comprare | tr | person | food toy clothing |
drive/drove/driven | guidare | tr | person | drivable |
fold | piegare | tr | person | foldable |
peel | sbucciare | tr | person | peelable |
pour | versare | tr | person | drink |
taste | assaggiare | tr | person | food drink |
tell/told/told | raccontare | tr | person | story |
turn on/turned/turned | accendere participle=acceso | tr | person | switchable |
turn off/turned/turned | spegnere present=spengo,spegni,spegne,spegniamo,spegnete,spengono \
    participle=spento | tr | person | switchable |
make/made/made | fare present=faccio,fai,fa,facciamo,fate,fanno participle=fatto \
    gerund=facendo imperative=fai | tr | person | makeable buildable |
brush | spazzolare | tr | person | animal doll |
plant | piantare | tr | person | flower tree |
water | innaffiare | tr | person | plant |
listen to | ascoltare | tr | person animal | song story person |
see/saw/seen | vedere participle=visto | tr | @anim | @concrete |
look at | guardare | tr | @anim | @concrete |
look for | cercare | tr | @anim | @movable animal |
"""

_PLACES = """
park | parco | to the park | at the park | al parco | al parco
garden | giardino | to the garden | in the garden | in giardino | in giardino
kitchen | cucina | to the kitchen | in the kitchen | in cucina | in cucina
bathroom | bagno | to the bathroom | in the bathroom | in bagno | in bagno
bedroom | camera | to the bedroom | in the bedroom | in camera | in camera
school | scuola | to school | at school | a scuola | a scuola
beach | spiaggia | to the beach | on the beach | in spiaggia | in spiaggia
zoo | zoo | to the zoo | at the zoo | allo zoo | allo zoo
farm | fattoria | to the farm | on the farm | alla fattoria | alla fattoria
shop | negozio | to the shop | at the shop | al negozio | al negozio
home | casa | home | at home | a casa | a casa
bed | letto | to bed | in bed | a letto | a letto
pool | piscina | to the pool | at the pool | in piscina | in piscina
woods | bosco | to the woods | in the woods | nel bosco | nel bosco
sea | mare | to the sea | at the sea | al mare | al mare
mountains | montagna | to the mountains | in the mountains | in montagna | in montagna
town | città | to town | in town | in città | in città
nursery | asilo | to nursery | at nursery | all'asilo | all'asilo
market | mercato | to the market | at the market | al mercato | al mercato
library | biblioteca | to the library | at the library | in biblioteca | in biblioteca
"""


@dataclass(frozen=True)
class Noun:
    """A countable or mass noun, or a first name (``name`` tag)."""

    key: str
    """The English singular, unique across the lexicon."""
    en: tuple[str, str]
    """English singular and plural."""
    it: tuple[str, str]
    """Italian singular and plural."""
    gender: int
    """Italian gender: :data:`~lm_gym.corpora.lexicon_it.MASC` or ``FEM``."""
    tags: frozenset[str]
    """Semantic tags, including the key itself."""
    pronoun: str
    """English third-person pronoun: ``he``, ``she`` or ``it``."""

    @property
    def countable(self) -> bool:
        """False for mass nouns and names, which stay singular and take no number words."""
        return not self.tags & {"mass", "name"}


@dataclass(frozen=True)
class Adjective:
    """An adjective and the noun tags it sensibly describes."""

    en: str
    it: tuple[str, str, str, str]
    """Agreement forms indexed by :func:`~lm_gym.corpora.lexicon_it.agreement`."""
    targets: frozenset[str]


@dataclass(frozen=True)
class Verb:
    """A verb with its English and Italian forms, frames and selectional restrictions."""

    en_base: str
    en_s3: str
    en_past: str
    en_participle: str
    en_ing: str
    en_particle: str
    """``up`` in ``wake up``; empty for a one-word verb."""
    it: ItalianVerb
    it_complement: str
    """``male`` in ``farsi male``; empty otherwise."""
    frames: frozenset[str]
    essere: bool
    """The Italian perfect takes *essere* (reflexive uses always do)."""
    en_reflexive: bool
    """Whether the English reflexive frame shows ``himself``/``themselves``."""
    subject: frozenset[str]
    object: frozenset[str]


@dataclass(frozen=True)
class Place:
    """A destination or location with fixed phrases (``to the park`` / ``al parco``)."""

    en_lemma: str
    it_lemma: str
    en_to: str
    en_at: str
    it_to: str
    it_at: str


def _lines(table: str) -> list[list[str]]:
    """The ``|``-separated fields of each non-empty line (``\\`` continues a line)."""
    joined = table.replace("\\\n", " ")
    return [[f.strip() for f in line.split("|")] for line in joined.splitlines() if line.strip()]


def _expand(tags: str) -> frozenset[str]:
    """Tags with ``@group`` names replaced by their members."""
    out: set[str] = set()
    for tag in tags.split():
        out.update(_GROUPS[tag[1:]].split() if tag.startswith("@") else [tag])
    return frozenset(out)


def _gender(code: str) -> int:
    return lexicon_it.FEM if code == "f" else lexicon_it.MASC


def _parse_noun(en: str, it: str, tags: str) -> Noun:
    en_sg, _, en_pl = en.partition("/")
    it_word, code = it.split()
    gender = _gender(code.rstrip("*"))
    it_sg, _, it_pl = it_word.partition("/")
    if code.endswith("*"):
        it_pl = it_sg
    tag_set = _expand(tags) | {en_sg}
    pronoun = "he" if "male" in tag_set else "she" if "female" in tag_set else "it"
    return Noun(
        key=en_sg,
        en=(en_sg, en_pl or lexicon_en.noun_plural(en_sg)),
        it=(it_sg, it_pl or lexicon_it.noun_plural(it_sg, gender)),
        gender=gender,
        tags=tag_set,
        pronoun=pronoun,
    )


def _parse_name(field: str) -> Noun:
    name, code = field.split()
    female = code == "f"
    return Noun(
        key=name,
        en=(name, name),
        it=(name, name),
        gender=_gender(code),
        tags=frozenset({name, "person", "name", "female" if female else "male"}),
        pronoun="she" if female else "he",
    )


def _parse_adjective(en: str, it: str, targets: str) -> Adjective:
    word, *options = it.split()
    forms = list(lexicon_it.adjective_forms(word.rstrip("*"), invariable=word.endswith("*")))
    for option in options:  # only ``mpl=`` is needed so far
        forms[1] = option.removeprefix("mpl=")
    return Adjective(en=en, it=tuple(forms), targets=_expand(targets))  # type: ignore[arg-type]


def _parse_verb(en: str, it: str, frames: str, subject: str, obj: str, flags: str) -> Verb:
    en_head, *irregular = en.split("/")
    base, _, particle = en_head.partition(" ")
    past, participle = irregular or (lexicon_en.regular_past(base),) * 2
    words = it.split()
    options = dict(w.split("=", 1) for w in words if "=" in w)
    plain = [w for w in words if "=" not in w]
    infinitive = plain[0]
    if infinitive.endswith("rsi"):  # only ever reflexive: the frame says so
        infinitive = infinitive[:-2] + "e"  # svegliarsi -> svegliare
    imperative = options.get("imperative")
    it_verb = lexicon_it.conjugate(
        infinitive,
        present=options["present"].replace(",", " ") if "present" in options else None,
        participle=options.get("participle"),
        gerund=options.get("gerund"),
        imperative="" if imperative == "-" else imperative,
        isc="isc" in plain[1:],
    )
    return Verb(
        en_base=base,
        en_s3=lexicon_en.third_singular(base),
        en_past=past,
        en_participle=participle,
        en_ing=lexicon_en.present_participle(base),
        en_particle=particle,
        it=it_verb,
        it_complement=" ".join(w for w in plain[1:] if w != "isc"),
        frames=frozenset(frames.split()),
        essere="E" in flags,
        en_reflexive="R" in flags,
        subject=_expand(subject),
        object=_expand(obj.replace("-", "")),
    )


NOUNS: tuple[Noun, ...] = tuple(_parse_noun(*fields) for fields in _lines(_NOUNS))
NAMES: tuple[Noun, ...] = tuple(_parse_name(field) for fields in _lines(_NAMES) for field in fields)
ADJECTIVES: tuple[Adjective, ...] = tuple(_parse_adjective(*f) for f in _lines(_ADJECTIVES))
VERBS: tuple[Verb, ...] = tuple(_parse_verb(*fields) for fields in _lines(_VERBS))
PLACES: tuple[Place, ...] = tuple(Place(*fields) for fields in _lines(_PLACES))
CONCRETE: frozenset[str] = _expand("@concrete")
"""Tags of everything that can be seen and touched."""
MOVABLE: frozenset[str] = _expand("@movable")
"""Tags of things a child can pick up, lose and find."""
