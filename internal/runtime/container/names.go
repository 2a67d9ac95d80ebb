package container

import (
	"math/rand/v2"
	"strings"
)

// Generated names are "adjective_noun", like Docker's, from lists of our own.
var (
	adjectives = strings.Fields(`agile amber bold brave bright calm clever cosmic crisp daring eager
		fearless gentle glad golden happy humble keen lively lucid merry nimble noble patient
		proud quick quiet rapid serene sharp shiny silent steady sturdy swift tidy vivid wise`)
	nouns = strings.Fields(`anchor badger beacon birch canyon comet condor coral delta falcon fjord
		glacier harbor heron island juniper kestrel lagoon lantern maple meadow nebula orchid
		otter pebble pine quartz raven reef river sparrow summit thistle tundra walnut willow`)
)

func randomName() string {
	return adjectives[rand.IntN(len(adjectives))] + "_" + nouns[rand.IntN(len(nouns))]
}
