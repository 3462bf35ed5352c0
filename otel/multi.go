package tkotel

import (
	"context"
	"sync"

	"go.opentelemetry.io/otel/attribute"

	"github.com/tokenkeeper/tokenkeeper"
	"github.com/tokenkeeper/tokenkeeper/multi"
)

// maxGroups bounds the values of the tokenkeeper.credential.group
// attribute that MultiOpen records; any further value is recorded as
// "other".
const maxGroups = 16

// attrGroup is the opt-in group of a credential of a multi.Manager.
const attrGroup = attribute.Key("tokenkeeper.credential.group")

// MultiOpen returns open, the Open func of a multi.Config, with an
// Observer added to the SourceConfig of each credential it opens, so that
// every credential of a multi.Manager is observed (an Observer matches the
// events of one Source only). The credentials' metrics add up in the same
// series: no attribute names a tenant, a user or a Key. The OnEvent hook
// open sets, if any, still gets every event, before cfg.Next.
//
// group, if not nil, opts in to one more attribute,
// tokenkeeper.credential.group, whose value it returns for a Key: a
// plan, a region, a provider, one of a handful. It is bounded: past 16
// distinct values, any other is recorded as "other". Never return a
// tenant or a user's name from it when there may be more than a few.
//
// The returned func is safe for concurrent use, as multi.Config.Open must
// be, when open is.
func MultiOpen(cfg Config, group func(multi.Key) string,
	open func(context.Context, multi.Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error),
) (func(context.Context, multi.Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error), error) {
	base, err := New(cfg)
	if err != nil {
		return nil, err
	}
	g := &groups{seen: map[string]struct{}{}}
	return func(ctx context.Context, k multi.Key) (*tokenkeeper.Client, tokenkeeper.SourceConfig, error) {
		c, scfg, err := open(ctx, k)
		if err != nil {
			return c, scfg, err
		}
		o := &Observer{cfg: cfg, m: base.m, tracer: base.tracer, common: base.common}
		if group != nil {
			o.group = attrGroup.String(g.bound(group(k)))
		}
		if prev, next := scfg.OnEvent, cfg.Next; prev != nil {
			o.cfg.Next = func(ev tokenkeeper.Event) {
				prev(ev)
				if next != nil {
					next(ev)
				}
			}
		}
		scfg.OnEvent = o.OnEvent
		return c, scfg, nil
	}, nil
}

// groups bounds the values of the group attribute.
type groups struct {
	mu   sync.Mutex // guards seen
	seen map[string]struct{}
}

// bound returns v if it is one of the first maxGroups values seen, else
// "other".
func (g *groups) bound(v string) string {
	g.mu.Lock()
	defer g.mu.Unlock()
	if _, ok := g.seen[v]; ok {
		return v
	}
	if len(g.seen) >= maxGroups {
		return "other"
	}
	g.seen[v] = struct{}{}
	return v
}
