package image

import (
	"github.com/opencontainers/go-digest"
)

// ChainID is the identity of a stack of layers: the diffID of the bottom layer,
// then sha256(parentChainID + " " + diffID) upward (OCI image spec, "ChainID").
// Two images with the same bottom layers share chainIDs for those layers, so an
// unpacked snapshot keyed by chainID serves both.
func ChainID(diffIDs []digest.Digest) digest.Digest {
	ids := ChainIDs(diffIDs)
	if len(ids) == 0 {
		return ""
	}
	return ids[len(ids)-1]
}

// ChainIDs returns the chainID of every prefix of diffIDs: ChainIDs(d)[i] is the
// chainID of the stack d[0..i].
func ChainIDs(diffIDs []digest.Digest) []digest.Digest {
	out := make([]digest.Digest, len(diffIDs))
	for i, d := range diffIDs {
		if i == 0 {
			out[i] = d
			continue
		}
		out[i] = digest.FromString(out[i-1].String() + " " + d.String())
	}
	return out
}
